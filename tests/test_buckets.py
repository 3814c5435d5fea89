"""Buckets a stack owns: every bucket a project's identity is granted on is declared by the stack
that grants on it (or named as an existing one), locked down, kept on destroy, priced at its
declared size, and named so that no two stacks or teams can hold one name."""

from __future__ import annotations

import json

import pytest

from program import names
from program.config import ConfigError, read_stack_files
from shoestring import offline

BUCKET = "gcp:storage/bucket:Bucket"
GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"


def with_ml_buckets(stack: str, buckets: dict) -> offline.Plan:
    config, secret_keys, _ = read_stack_files(stack)
    projects = json.loads(config["shoestring:projects"])
    projects.setdefault("ml", {})["buckets"] = buckets
    return offline.run(stack, config={**config, "shoestring:projects": json.dumps(projects)}, secret_keys=secret_keys)


@pytest.mark.parametrize("stack", ["prod", "dev", "staging"])
def test_every_bucket_granted_on_is_declared_by_the_stack_and_the_grant_waits_for_it(plans, stack):
    declared = {r.inputs["name"]: r for r in plans[stack].of_type(BUCKET)}
    grants = plans[stack].of_type(GRANT)
    assert grants
    for grant in grants:
        assert grant.inputs["bucket"] in declared, grant.inputs["bucket"]
        assert declared[grant.inputs["bucket"]].urn in grant.dependencies


@pytest.mark.parametrize("stack", ["prod", "dev", "staging"])
def test_a_declared_bucket_is_iam_only_never_public_labelled_and_kept_when_the_stack_is_destroyed(plans, stack):
    [bucket] = plans[stack].of_type(BUCKET)
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["labels"] == {"shoestring-stack": stack, "shoestring-project": "ml"}
    assert bucket.inputs["location"] == "US-CENTRAL1" and bucket.inputs["storageClass"] == "STANDARD"
    assert bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False


def test_each_stack_and_each_gcp_project_gets_its_own_name(plans):
    found = {stack: plan.of_type(BUCKET)[0].inputs["name"] for stack, plan in plans.items()}
    assert found == {
        # gcp:project as stacks/Pulumi.<stack>.yaml ship it after the merge of issues 26–30
        "prod": "replace-with-your-project-id-ml-data",
        "staging": "replace-with-your-project-id-ml-staging-data",
        "dev": "replace-with-dev-project-id-ml-data",
    }


def test_a_long_name_is_cut_to_what_cloud_storage_accepts_and_stays_unique():
    first = names.bucket_name("a-thirty-character-project-id", "analytics-pipeline-staging", "raw-events")
    second = names.bucket_name("a-thirty-character-project-id", "analytics-pipeline-staging", "raw-eventz")
    assert first != second
    assert names.BUCKET_NAME.problem(first) is None and names.BUCKET_NAME.problem(second) is None


def test_a_bucket_name_google_refuses_is_named_so():
    assert "does not match" in names.BUCKET_NAME.problem("google-ml-data")


def test_the_estimate_prices_a_bucket_at_its_declared_size():
    from program import cost

    estimate = cost.estimate("prod", offline.run("prod").records)
    [line] = [x for x in estimate.lines if x.item == "Bucket replace-with-your-project-id-ml-data"]
    assert line.idle_monthly == pytest.approx(50 * 0.02)


@pytest.fixture(scope="module")
def external() -> offline.Plan:
    return with_ml_buckets("staging", {"data": {"external": "acme-ml-archive"}})


class TestAnExistingBucket:
    def test_it_is_granted_on_and_never_declared_nor_priced(self, external):
        assert external.of_type(BUCKET) == []
        [grant] = external.of_type(GRANT)
        assert grant.inputs["bucket"] == "acme-ml-archive"
        from program import cost

        estimate = cost.estimate("staging", external.records, offline.run("prod").records)
        assert not [x for x in estimate.lines if x.item.startswith("Bucket ")]

    def test_a_bucket_the_definition_does_not_have_is_refused_naming_the_one_meant(self):
        with pytest.raises(ConfigError, match=r"shoestring:projects.ml.buckets.dta = None: project ml has no bucket 'dta'; did you mean data\?"):
            with_ml_buckets("staging", {"dta": {"sizeGib": 5}})
