"""ProjectApis: the Google APIs a stack's resources are created through, enabled in its GCP project."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from program.names import PROJECT_APIS_TYPE, api_service_name


class ProjectApisArgs(TypedDict):
    project: str
    """GCP project ID."""
    apis: Sequence[str]
    """Service names, e.g. ``container.googleapis.com``."""


class ProjectApis(pulumi.ComponentResource):
    """One ``gcp.projects.Service`` per API, so a first `pulumi up` on a new project needs no
    `gcloud services enable` beforehand.

    Destroying a stack leaves the APIs on (``disable_on_destroy=False``): another stack in the same
    GCP project (staging in prod's) may be using them, and disabling an API can delete what was
    created through it. Enabling an API that is on already succeeds, so two stacks of one GCP
    project may both declare it."""

    services: dict[str, gcp.projects.Service]
    """API name to the resource that enables it: what a resource created through it depends on."""

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(PROJECT_APIS_TYPE, name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                api_service_name(name, api),
                project=args["project"],
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in sorted(args["apis"])
        }
        self.register_outputs({"apis": sorted(self.services)})
