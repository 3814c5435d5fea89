"""An existing bucket — another team's data, the Pulumi state — is reachable only when the
platform-reviewed stack file names it (shoestring:projects.<project>.buckets.<bucket>.external):
a project's definition may not, and a grant on a bucket the project neither declares nor was given
as external is refused by the rule `make plan` and the policy pack share."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from test_ownership_rules import BUCKET_ACCESS, changed, pack_violations, violations

from program.definitions import Bucket


@pytest.fixture(scope="module")
def prod(plans):
    return plans["prod"].records


def ml_grant_on(prod, bucket: str):
    [grant] = [r for r in prod if r.type == BUCKET_ACCESS and r.name.startswith("ml-")]
    return changed(prod, BUCKET_ACCESS, grant.name, lambda i: i.update(bucket=bucket)), grant.name


def test_a_grant_on_a_bucket_the_project_neither_declares_nor_was_given_is_refused(prod):
    records, name = ml_grant_on(prod, "acme-pulumi-state")
    message = (f"{BUCKET_ACCESS} {name}: grants bucket acme-pulumi-state, which project ml does not declare and its stack file does not name as "
               "external (shoestring:projects.ml.buckets.<bucket>.external); a project uses its own buckets only")
    assert violations(records, "grants-only-its-own") == [message]
    assert len(pack_violations(records, "grants-only-its-own")) == 1


def test_the_same_grant_passes_when_the_stack_file_named_the_bucket_external(prod):
    records, _ = ml_grant_on(prod, "acme-ml-archive")
    records = changed(records, "shoestring:k8s:Project", "ml", lambda i: i.update(externalBuckets=["acme-ml-archive"]))
    assert violations(records, "grants-only-its-own") == []
    assert pack_violations(records, "grants-only-its-own") == []


def test_a_definition_naming_an_existing_bucket_is_refused_pointing_to_the_stack_file():
    with pytest.raises(ValidationError, match=r"an existing bucket is named in the stack file, which the platform reviews"):
        Bucket(role="roles/storage.objectUser", external="acme-pulumi-state")
    assert Bucket(role="roles/storage.objectViewer").external is None
