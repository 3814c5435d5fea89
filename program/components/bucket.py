"""ProjectBucket: a Cloud Storage bucket a project's identity uses, declared by the stack that grants on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

BUCKET_TYPE = "shoestring:storage:ProjectBucket"
"""Type token of the component; its inputs carry the declared size the estimate prices."""


class ProjectBucketArgs(TypedDict):
    bucket: str
    """The bucket's global name (program/names.py bucket_name), or the existing bucket's with ``external``."""
    project: str
    """GCP project the bucket is created in."""
    location: str
    """Region of the bucket: the cluster's, so its pods read it without inter-region egress."""
    role: str
    """The identity's role on the bucket alone."""
    member: pulumi.Input[str]
    """``serviceAccount:<email>`` of the project's identity."""
    size_gib: int
    """Expected size, priced per GiB-month."""
    labels: Mapping[str, str]
    """GCP labels (stack, project), visible in billing exports."""
    external: NotRequired[bool]
    """The bucket exists already and is someone else's: granted on, never declared. Default False."""


class ProjectBucket(pulumi.ComponentResource):
    """A Standard bucket in one region that only IAM opens (uniform bucket-level access, no ACLs),
    that can never be made public (public access prevention enforced), kept when the stack is
    destroyed (its data is the project's, not the stack's), and the one grant the project's
    identity holds on it. The grant names the declared bucket's output, so the SDK sends it only
    once the bucket exists."""

    def __init__(self, name: str, args: ProjectBucketArgs, opts: pulumi.ResourceOptions | None = None):
        external = args.get("external", False)
        props = {"bucket": args["bucket"], "location": args["location"], "sizeGib": 0 if external else args["size_gib"], "external": external}
        super().__init__(BUCKET_TYPE, name, props, opts)
        bucket: pulumi.Input[str] = args["bucket"]
        if not external:
            bucket = gcp.storage.Bucket(
                name,
                name=args["bucket"],
                project=args["project"],
                location=args["location"].upper(),
                storage_class="STANDARD",
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                labels=dict(args["labels"]),
                # A bucket holding objects is not deleted (force_destroy False), and a destroy leaves
                # it and its data in place: `gcloud storage rm -r gs://<bucket>` is a person's decision.
                force_destroy=False,
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            ).name
        role = args["role"]
        gcp.storage.BucketIAMMember(f"{name}-{role.split('.')[-1]}", bucket=bucket, role=role, member=args["member"], opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs(props)
