"""Ownership rules over the records: a project's GCP roles come from the allow-list; it grants only
its own identity, on its own secrets and buckets, to its own namespace; GPU tolerations come with a
GPU request; PriorityClasses are Shoestring's; every container requests and limits; LimitRanges
set minimums. Each rule passes the shipped stacks and fails on one field changed — in `make plan`'s
list (shoestring/rules.py) and through the policy pack's own validation functions."""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import pytest
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs

from program.records import Record
from shoestring import rules

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "policies"))
import guardrails  # noqa: E402  (policies/guardrails.py)


def changed(records: list[Record], type_: str, name: str, edit=None, **fields) -> list[Record]:
    """The records with one of them changed: ``edit`` applied to a copy of its inputs, or ``fields`` replaced."""
    out = []
    for record in records:
        if record.type == type_ and record.name == name:
            inputs = copy.deepcopy(record.inputs)
            if edit:
                edit(inputs)
            record = dataclasses.replace(record, inputs=inputs, **fields)
        out.append(record)
    assert out != records, f"no {type_} {name}"
    return out


def urn_of(records: list[Record], type_: str, name: str) -> str:
    [urn] = [r.urn for r in records if r.type == type_ and r.name == name]
    return urn


def violations(records: list[Record], rule: str) -> list[str]:
    return [f"{v.resource}: {v.message}" for v in rules.stack_violations(records) if v.rule == rule]


def pack_violations(records: list[Record], rule: str) -> list[str]:
    """What the policy pack's function for ``rule`` reports, given pulumi_policy's own argument types."""
    found: list[str] = []
    report = lambda message, urn=None: found.append(message)  # noqa: E731
    check = next((c for c in rules.STACK_CHECKS if c.name == rule), None)
    if check is not None:
        guardrails.stack_policy(check)(StackValidationArgs(resources=policy_resources(records)), report)
        return found
    [resource_rule] = [r for r in rules.RESOURCE_RULES if r.name == rule]
    for resource in policy_resources(records):
        args = ResourceValidationArgs(resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None)
        guardrails.security_rule(resource_rule)(args, report)
    return found


def policy_resources(records: list[Record]) -> list[PolicyResource]:
    """The records as CrossGuard hands a stack policy its resources: parents and dependencies as resources."""
    options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[], additional_secret_outputs=[], custom_timeouts=None, parent=None)
    made: dict[str, PolicyResource] = {}
    for record in records:
        made[record.urn] = PolicyResource(record.type, record.inputs, record.urn, record.name, options, None, None, [], {})
    for record in records:
        made[record.urn].parent = made.get(record.parent)
        made[record.urn].dependencies = [made[d] for d in record.dependencies if d in made]
    return list(made.values())


@pytest.fixture(scope="module")
def prod(plans) -> list[Record]:
    return plans["prod"].records


ACCOUNT = "gcp:serviceaccount/account:Account"
SECRET_ACCESS = "gcp:secretmanager/secretIamMember:SecretIamMember"
BUCKET_ACCESS = "gcp:storage/bucketIAMMember:BucketIAMMember"
WORKLOAD_IDENTITY = "gcp:serviceaccount/iAMMember:IAMMember"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRON_JOB = "kubernetes:batch/v1:CronJob"
OWNERSHIP = ["project-roles-from-allow-list", "grants-only-its-own", "gpu-tolerations-need-gpu-requests",
             "shoestring-priority-classes-only", "containers-request-and-limit", "limit-ranges-set-minimums"]


@pytest.mark.parametrize("rule", OWNERSHIP)
def test_every_shipped_stack_keeps_each_ownership_rule(plans, rule):
    for stack, plan in plans.items():
        assert violations(plan.records, rule) == [], stack
        assert pack_violations(plan.records, rule) == [], stack


def with_owner_role(prod: list[Record], reviewed: list[str] | None = None) -> list[Record]:
    """prod's records with a project-level grant of roles/owner in ml's component, as a transform could make it."""
    [logs] = [r for r in prod if r.type == BUCKET_ACCESS]
    grant = dataclasses.replace(logs, type="gcp:projects/iAMMember:IAMMember", name="ml-owner", urn=logs.urn.replace("bucketIAMMember", "x"),
                                inputs={"project": "p", "role": "roles/owner", "member": logs.inputs["member"]})
    records = [*prod, grant]
    if reviewed is not None:
        records = changed(records, "shoestring:k8s:Project", "ml", lambda i: i.update(reviewedGcpRoles=reviewed))
    return records


class TestProjectRoles:
    def test_a_role_beyond_the_allow_list_is_refused(self, prod):
        records = with_owner_role(prod)
        message = ("gcp:projects/iAMMember:IAMMember ml-owner: grants roles/owner on the GCP project to project ml's identity; a project holds "
                   "roles from PROJECT_ROLES (program/definitions.py) or, after review, its stack file's reviewedGcpRoles")
        assert violations(records, "project-roles-from-allow-list") == [message]
        assert pack_violations(records, "project-roles-from-allow-list") == [message]

    def test_an_allowed_role_or_a_reviewed_one_passes(self, prod):
        records = with_owner_role(prod)
        logs = changed(records, "gcp:projects/iAMMember:IAMMember", "ml-owner", lambda i: i.update(role="roles/logging.logWriter"))
        assert violations(logs, "project-roles-from-allow-list") == []
        assert violations(with_owner_role(prod, reviewed=["roles/owner"]), "project-roles-from-allow-list") == []


class TestGrantsOnlyItsOwn:
    def test_reading_another_projects_secret_is_refused(self, prod):
        # ml's records granting blog's secret: the grant depends on a Secret of blog's component.
        secret = urn_of(prod, "gcp:secretmanager/secret:Secret", "blog-blog-db-url")
        ml_account = urn_of(prod, ACCOUNT, "ml-workload")
        records = changed(prod, SECRET_ACCESS, "blog-reads-blog-db-url", parent=urn_of(prod, "shoestring:k8s:Project", "ml"), dependencies=(secret, ml_account))
        assert violations(records, "grants-only-its-own") == [
            f"{SECRET_ACCESS} blog-reads-blog-db-url: reads secret blog-db-url, which project ml does not declare; a project reads its own secrets only"
        ]
        assert len(pack_violations(records, "grants-only-its-own")) == 1

    def test_granting_another_projects_account_is_refused(self, prod):
        records = changed(prod, SECRET_ACCESS, "blog-reads-blog-db-url", dependencies=(urn_of(prod, "gcp:secretmanager/secret:Secret", "blog-blog-db-url"), urn_of(prod, ACCOUNT, "ml-workload")))
        assert violations(records, "grants-only-its-own") == [
            f"{SECRET_ACCESS} blog-reads-blog-db-url: is not granted to (or on) project blog's own GCP service account; a project grants only its own identity"
        ]

    def test_another_projects_bucket_is_refused(self, prod):
        [grant] = [r for r in prod if r.type == BUCKET_ACCESS]
        blog = urn_of(prod, "shoestring:k8s:Project", "blog")
        copy_for_blog = dataclasses.replace(grant, name="blog-steals", urn=grant.urn + "-blog", parent=blog, dependencies=(urn_of(prod, ACCOUNT, "blog-workload"),))
        found = violations([*prod, copy_for_blog], "grants-only-its-own")
        assert f"{BUCKET_ACCESS} blog-steals: grants bucket replace-with-your-project-id-ml-data, which is another project's in this stack; a project uses its own buckets only" in found
        assert len(pack_violations([*prod, copy_for_blog], "grants-only-its-own")) == 2  # each side of the shared bucket

    def test_a_workload_identity_binding_for_another_namespace_is_refused(self, prod):
        records = changed(prod, WORKLOAD_IDENTITY, "ml-workload-identity", lambda i: i.update(member=i["member"].replace("[ml/", "[blog/")))
        assert violations(records, "grants-only-its-own") == [
            f"{WORKLOAD_IDENTITY} ml-workload-identity: lets 'blog/workload' act as project ml's identity; only a ServiceAccount of namespace ml may"
        ]


def pod_of(inputs: dict) -> dict:
    return inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in inputs["spec"] else inputs["spec"]["template"]["spec"]


class TestPods:
    def test_a_gpu_toleration_without_a_gpu_request_is_refused(self, prod):
        def tolerate(inputs):
            pod_of(inputs)["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

        records = changed(prod, DEPLOYMENT, "blog-frontend", tolerate)
        message = f"{DEPLOYMENT} blog-frontend: the pod tolerates the GPU taint but asks for no nvidia.com/gpu; only GPU work may land on GPU nodes"
        assert violations(records, "gpu-tolerations-need-gpu-requests") == [message]
        assert pack_violations(records, "gpu-tolerations-need-gpu-requests") == [message]

    def test_a_toleration_of_every_taint_counts_as_the_gpu_one(self, prod):
        records = changed(prod, DEPLOYMENT, "blog-frontend", lambda i: pod_of(i).update(tolerations=[{"operator": "Exists"}]))
        assert len(violations(records, "gpu-tolerations-need-gpu-requests")) == 1

    def test_a_foreign_priority_class_is_refused(self, prod):
        records = changed(prod, DEPLOYMENT, "blog-frontend", lambda i: pod_of(i).update(priorityClassName="system-node-critical"))
        message = f"{DEPLOYMENT} blog-frontend: the pod names PriorityClass system-node-critical; use one of Shoestring's (shoestring-public-entry, shoestring-one-off, shoestring-user-facing, shoestring-batch)"
        assert violations(records, "shoestring-priority-classes-only") == [message]
        assert pack_violations(records, "shoestring-priority-classes-only") == [message]

    def test_a_priority_class_shoestring_does_not_declare_is_refused(self, prod):
        records = changed(prod, "kubernetes:scheduling.k8s.io/v1:PriorityClass", "shoestring-batch", lambda i: i["metadata"].update(name="mine-first"))
        assert violations(records, "shoestring-priority-classes-only") == [
            "kubernetes:scheduling.k8s.io/v1:PriorityClass shoestring-batch: declares PriorityClass mine-first; the cluster's are Shoestring's only (shoestring-public-entry, shoestring-one-off, shoestring-user-facing, shoestring-batch)"
        ]

    @pytest.mark.parametrize(("kind", "resource", "value"), [("requests", "cpu", "0"), ("limits", "memory", None)])
    def test_a_container_without_requests_or_limits_is_refused(self, prod, kind, resource, value):
        def zero(inputs):
            resources = pod_of(inputs)["containers"][0]["resources"][kind]
            resources.pop(resource) if value is None else resources.update({resource: value})

        records = changed(prod, CRON_JOB, "ml-embed", zero)
        message = f"{CRON_JOB} ml-embed: container embed has no (or a zero) {kind}.{resource}; give each a figure above zero"
        assert violations(records, "containers-request-and-limit") == [message]
        assert pack_violations(records, "containers-request-and-limit") == [message]

    def test_a_limit_range_without_minimums_is_refused(self, prod):
        records = changed(prod, "kubernetes:core/v1:LimitRange", "blog-limits", lambda i: i["spec"]["limits"][0].pop("min"))
        message = "kubernetes:core/v1:LimitRange blog-limits: sets no minimum cpu or memory per container; add min: {cpu: ..., memory: ...} above zero"
        assert violations(records, "limit-ranges-set-minimums") == [message]
        assert pack_violations(records, "limit-ranges-set-minimums") == [message]
