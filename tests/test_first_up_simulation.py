"""The first `pulumi up` of every stack, played over the registrations the SDK sent Pulumi's
mocks with Google's and Kubernetes' rules (tests/first_up.py, each rule cited there): nothing is
refused, and removing any one ordering the program declares makes its rule refuse it."""

from __future__ import annotations

import dataclasses

import pytest
from first_up import BUCKET, SECRET_VERSION, SKIP_AWAIT, FirstUp

from program import apis
from program.records import Record

STACKS = ["dev", "prod", "staging"]


def first_up(plans, stack: str, records: list[Record] | None = None) -> FirstUp:
    # staging runs in prod's cluster and project: prod is deployed first (docs/going-live.md).
    return FirstUp(plans[stack].records if records is None else records, plans["prod"].records if stack == "staging" else ())


def refused(plans, stack: str, rule: str, records: list[Record] | None = None) -> list[str]:
    return [str(r) for r in first_up(plans, stack, records).refusals() if r.rule == rule]


def record(plans, stack: str, type_: str, name: str) -> Record:
    return next(r for r in plans[stack].records if r.type == type_ and r.name == name)


def without_dependency(records: list[Record], of: Record, on: str) -> list[Record]:
    assert on in of.dependencies
    return [dataclasses.replace(r, dependencies=tuple(d for d in r.dependencies if d != on)) if r.urn == of.urn else r for r in records]


def service(plans, stack: str, api: str) -> str:
    return next(r.urn for r in plans[stack].of_type(apis.SERVICE) if r.inputs["service"] == api)


class TestTheSimulationPlaysWhatTheSdkSent:
    @pytest.mark.parametrize("stack", STACKS)
    def test_each_registration_was_sent_after_everything_it_depends_on_completed(self, plans, stack):
        events = {event: i for i, event in enumerate(plans[stack].order)}
        for r in plans[stack].records:
            for d in r.dependencies:
                assert events[("completed", d)] < events[("sent", r.urn)], (r.name, d)


class TestEveryStacksFirstUp:
    @pytest.mark.parametrize("stack", STACKS)
    def test_no_resource_meets_an_api_that_is_off(self, plans, stack):
        assert refused(plans, stack, "SERVICE_DISABLED") == []

    @pytest.mark.parametrize("stack", STACKS)
    def test_no_workload_identity_member_names_a_pool_before_its_cluster_exists(self, plans, stack):
        assert refused(plans, stack, "400") == []

    @pytest.mark.parametrize("stack", STACKS)
    def test_no_pod_names_a_priority_class_before_it_exists(self, plans, stack):
        assert refused(plans, stack, "Forbidden") == []

    @pytest.mark.parametrize("stack", STACKS)
    def test_every_bucket_granted_on_exists(self, plans, stack):
        assert refused(plans, stack, "404") == []

    @pytest.mark.parametrize("stack", STACKS)
    def test_no_awaited_rollout_waits_for_a_secret_value(self, plans, stack):
        assert refused(plans, stack, "timeout") == []


class TestEachRuleRefusesItsOrderingRemoved:
    def test_a_network_that_does_not_wait_for_compute_meets_service_disabled(self, plans):
        network = record(plans, "prod", "gcp:compute/network:Network", "shoestring-prod")
        records = without_dependency(plans["prod"].records, network, service(plans, "prod", "compute.googleapis.com"))
        assert refused(plans, "prod", "SERVICE_DISABLED", records) == [
            "SERVICE_DISABLED: gcp:compute/network:Network shoestring-prod: 403 compute.googleapis.com has not been used in project replace-with-your-project-id before or it is disabled"
        ]

    def test_a_workload_identity_member_that_does_not_wait_for_the_cluster_names_a_pool_that_does_not_exist(self, plans):
        member = record(plans, "prod", "gcp:serviceaccount/iAMMember:IAMMember", "ml-workload-identity")
        cluster = record(plans, "prod", "gcp:container/cluster:Cluster", "shoestring-prod")
        records = without_dependency(plans["prod"].records, member, cluster.urn)
        assert refused(plans, "prod", "400", records) == [
            "400: gcp:serviceaccount/iAMMember:IAMMember ml-workload-identity: Identity Pool does not exist (replace-with-your-project-id.svc.id.goog)"
        ]

    def test_a_deployment_that_does_not_wait_for_its_priority_class_has_its_pods_refused(self, plans):
        frontend = record(plans, "prod", "kubernetes:apps/v1:Deployment", "blog-frontend")
        user_facing = record(plans, "prod", "kubernetes:scheduling.k8s.io/v1:PriorityClass", "shoestring-user-facing")
        records = without_dependency(plans["prod"].records, frontend, user_facing.urn)
        assert refused(plans, "prod", "Forbidden", records) == [
            "Forbidden: kubernetes:apps/v1:Deployment blog-frontend: pods forbidden: no PriorityClass with name shoestring-user-facing was found"
        ]

    def test_a_grant_waiting_for_its_declared_bucket_passes_and_without_the_bucket_is_a_404(self, plans):
        grant = record(plans, "prod", "gcp:storage/bucketIAMMember:BucketIAMMember", "ml-data-objectViewer")
        bucket = record(plans, "prod", BUCKET, "ml-data")
        assert refused(plans, "prod", "404") == []
        assert refused(plans, "prod", "404", without_dependency(plans["prod"].records, grant, bucket.urn)) == [
            "404: gcp:storage/bucketIAMMember:BucketIAMMember ml-data-objectViewer: The specified bucket does not exist: replace-with-your-project-id-ml-data"
        ]

    def test_an_awaited_deployment_mounting_a_secret_with_no_version_times_out_and_with_a_version_or_skip_await_does_not(self, plans):
        message = "timeout: kubernetes:apps/v1:Deployment blog-backend: the rollout was not ready after 10m: secret blog-db-url has no version, so the pods' secrets volume cannot mount"
        # prod's blog-backend ships skipping the await (its secret's value is set outside the stack):
        # the rollout the rule times out is that Deployment with the annotation taken away.
        backend = record(plans, "prod", "kubernetes:apps/v1:Deployment", "blog-backend")
        assert backend.inputs["metadata"]["annotations"][SKIP_AWAIT] == "true"
        assert refused(plans, "prod", "timeout") == []
        annotations = {k: v for k, v in backend.inputs["metadata"]["annotations"].items() if k != SKIP_AWAIT}
        awaited = [dataclasses.replace(r, inputs={**r.inputs, "metadata": {**r.inputs["metadata"], "annotations": annotations}}) if r.urn == backend.urn else r for r in plans["prod"].records]
        assert refused(plans, "prod", "timeout", awaited) == [message]
        secret = next(r for r in plans["prod"].of_type("gcp:secretmanager/secret:Secret") if r.inputs["secretId"] == "blog-db-url")
        version = Record(type=SECRET_VERSION, name="blog-db-url-value", parent=None, urn="urn:pulumi:prod::shoestring::gcp:secretmanager/secretVersion:SecretVersion::v", inputs={}, dependencies=(secret.urn,))
        assert refused(plans, "prod", "timeout", [*awaited, version]) == []
