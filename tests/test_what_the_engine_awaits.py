"""What pulumi-kubernetes awaits and what GKE needs enabled, on the records the SDK sent: a Service
over pods that wait for their secret is not awaited (or the first `up` fails after 10 minutes); a
disruption budget never holds a node drain on pods that never got ready; a Cloud DNS cluster is
created after the Cloud DNS API is on; quantities are ASCII, as Kubernetes parses them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from program import apis
from program.definitions import Resources

SERVICE = "kubernetes:core/v1:Service"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SKIP_AWAIT = "pulumi.com/skipAwait"


def annotations(record) -> dict:
    return (record.inputs.get("metadata") or {}).get("annotations") or {}


@pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
def test_a_service_is_awaited_exactly_when_its_deployment_is(plans, stack):
    records = plans[stack].records
    deployments = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r for r in records if r.type == DEPLOYMENT}
    services = [r for r in records if r.type == SERVICE and (r.inputs["metadata"].get("namespace"), r.inputs["metadata"]["name"]) in deployments]
    assert services
    for service in services:
        deployment = deployments[(service.inputs["metadata"]["namespace"], service.inputs["metadata"]["name"])]
        assert annotations(service).get(SKIP_AWAIT) == annotations(deployment).get(SKIP_AWAIT), service.name
    # The shipped blog backend waits for its secret's first version in every stack.
    assert any(annotations(s).get(SKIP_AWAIT) == "true" for s in services)


def test_every_disruption_budget_lets_pods_that_never_got_ready_be_evicted(plans):
    budgets = [r for plan in plans.values() for r in plan.records if r.type == PDB]
    assert budgets
    assert {b.inputs["spec"].get("unhealthyPodEvictionPolicy") for b in budgets} == {"AlwaysAllow"}


def test_a_cloud_dns_cluster_waits_for_the_cloud_dns_api(plans):
    records = plans["prod"].records
    [cluster] = [r for r in records if r.type == "gcp:container/cluster:Cluster"]
    assert cluster.inputs["dnsConfig"]["clusterDns"] == "CLOUD_DNS"
    [service] = [r for r in records if r.type == apis.SERVICE and r.inputs["service"] == apis.CLOUD_DNS]
    assert service.urn in cluster.dependencies
    assert apis.CLOUD_DNS in apis.needed_by(cluster.type, cluster.inputs)


@pytest.mark.parametrize("cpu", ["١٠٠m", "１００m", "½"])
def test_a_quantity_in_other_scripts_digits_is_refused(cpu):
    with pytest.raises(ValidationError, match="is not a Kubernetes quantity"):
        Resources(cpu=cpu, memory="128Mi", cpu_limit="500m", memory_limit="256Mi")


@pytest.mark.parametrize("field, value", [("cpu", "1m"), ("cpu_limit", "9m"), ("memory", "1Mi"), ("memory_limit", "15Mi")])
def test_a_request_or_limit_below_the_namespaces_limit_range_minimum_is_refused(field, value):
    # The API server's LimitRanger would refuse every pod of it, and the rollout hang `pulumi up`.
    with pytest.raises(ValidationError, match="the least a container may ask for in a project's namespace"):
        Resources(**{field: value})
    assert Resources(cpu="10m", memory="16Mi", cpu_limit="10m", memory_limit="16Mi").cpu == "10m"
