"""Isolation that holds against a careless or hostile project file: each attack, made on a copy of
the repository the way a teammate would make it, ends `make plan` with exit 1 and one message
naming the rule, the project and the fix. A project reaches only what is its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_of_repository, replaced

from shoestring import rules, security

ROOT = Path(__file__).resolve().parent.parent

HOSTILE_PROJECT = """name: {name}
apps:
  - {{name: web, image: ghcr.io/acme/web, tag: "9c4e1f2a7b3d@sha256:{digest}", port: 8080, repository: "https://github.com/acme/web"}}
""".replace("{digest}", "a" * 64)

# What a project file could do while it was Python, and did in review (issue 28): patch the rules
# the plan checks, declare a cluster-admin binding, send the planner's environment away. Now it
# is never imported, so the canary it would write never appears.
PYTHON_PROJECT = """
from pathlib import Path
import shoestring.rules

Path(__file__).resolve().parent.parent.joinpath("pwned").write_text("ran")
shoestring.rules.stack_violations = lambda records: []
"""

# PyYAML's unsafe loaders call os.system for this tag; the safe one refuses every tag.
PYTHON_TAG = 'name: !!python/object/apply:os.system ["touch pwned"]\napps: []\n'

# Nine levels of nine aliases: 9**9 (387 million) strings once expanded (the "billion laughs").
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
) + "name: bomb\napps: *i\n"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_of_repository(tmp_path_factory, "hostile")


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(replaced(path, old, new))


ML_APP_LINE = 1 + (ROOT / "projects" / "ml.yaml").read_text().splitlines().index("    repository: https://github.com/acme/ml")

BLOG_BACKEND_RESOURCES_LINE = 1 + next(i for i, line in enumerate((ROOT / "projects" / "blog.yaml").read_text().splitlines()) if line.startswith("    resources:"))

ATTACKS = [
    ("roles/owner for a project", "all", "projects/ml.yaml",
     lambda p: edit(p, "buckets:", "gcp_roles: [roles/owner]\nbuckets:"),
     "shoestring:projects.ml = \"gcp_roles=['roles/owner']\": beyond the roles a project may hold"),
    ("another project's secret", "prod", "projects/ml.yaml",
     lambda p: edit(p, "    whole_node: true\n", "    whole_node: true\n    secrets: {STOLEN: blog-db-url}\n"),
     "shoestring:projects.ml = 'blog-db-url': secret blog-db-url belongs to project blog in this stack"),
    ("YAML in a stack's secret override", "staging", "stacks/Pulumi.staging.yaml",
     lambda p: edit(p, "secrets: {DATABASE_URL: blog-staging-db-url}", 'secrets: {DATABASE_URL: "x\\"\\n- resourceName: \\"latest"}'),
     "is not a Secret Manager secret id"),
    ("a project named after another stack's namespace", "prod", "projects/blog-staging.yaml",
     lambda p: p.write_text(HOSTILE_PROJECT.format(name="blog-staging")),
     "shoestring:projects.blog-staging = 'blog-staging': ends in -staging, the suffix of stack staging's namespaces in a shared cluster"),
    ("a project file that is Python", "prod", "projects/notes.py",
     lambda p: p.write_text(PYTHON_PROJECT),
     "projects/notes.py: a project is a data file, and a Python file in projects/ is never run; write it as projects/notes.yaml"),
    ("a YAML python tag", "dev", "projects/notes.yaml",
     lambda p: p.write_text(PYTHON_TAG),
     "projects/notes.yaml:1: the tag tag:yaml.org,2002:python/object/apply:os.system is not allowed in a project file"),
    ("an alias bomb", "dev", "projects/bomb.yaml",
     lambda p: p.write_text(ALIAS_BOMB),
     "aliases included); write it without repeating aliases"),
    ("another project's bucket", "prod", "projects/blog.yaml",
     lambda p: p.write_text(p.read_text() + "buckets: {stolen: {role: roles/storage.objectUser, external: replace-with-your-project-id-ml-data}}\n"),
     # An existing bucket is named only in the platform-reviewed stack file: the project file's is refused before any resource.
     "buckets.stolen.external = 'replace-with-your-project-id-ml-data': 'replace-with-your-project-id-ml-data': an existing bucket is named in the stack file, which the platform reviews"),
    ("zero requests", "dev", "projects/blog.yaml",
     lambda p: edit(p, "resources: {cpu: 200m,", 'resources: {cpu: "0",'),
     f"projects/blog.yaml:{BLOG_BACKEND_RESOURCES_LINE}: apps.1.resources.cpu = '0': '0' is zero; give what the container needs at least"),
    ("two halves of the internet as authorized networks", "prod", "stacks/Pulumi.prod.yaml",
     lambda p: edit(p, "  shoestring:zone: us-central1-a\n", "  shoestring:zone: us-central1-a\n  shoestring:controlPlane: {authorizedNetworks: [0.0.0.0/1, 128.0.0.0/1]}\n"),
     "shoestring:controlPlane.authorizedNetworks = ['0.0.0.0/1', '128.0.0.0/1']"),
    ("a repository that is a git option", "dev", "projects/ml.yaml",
     lambda p: edit(p, "    repository: https://github.com/acme/ml\n    branch: main", '    repository: "--upload-pack=touch pwned;"\n    branch: main'),
     f"projects/ml.yaml:{ML_APP_LINE}: apps.0.repository = '--upload-pack=touch pwned;': '--upload-pack=touch pwned;' is not a Git repository URL"),
]


@pytest.mark.parametrize(("attack", "stack", "path", "make", "message"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_each_attack_ends_make_plan_with_exit_1_naming_the_rule_and_the_fix(clone, attack, stack, path, make, message):
    target = clone / path
    original = target.read_text() if target.exists() else None
    make(target)
    try:
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", stack], cwd=clone, capture_output=True, text=True, timeout=120)
    finally:
        target.write_text(original) if original is not None else target.unlink()
    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "Traceback" not in completed.stderr, completed.stderr
    assert message in completed.stderr, completed.stderr
    assert not (clone / "pwned").exists()


class TestStacksThatShareACluster:
    def test_shipped_staging_is_granted_nothing_prod_uses(self, plans):
        def grants(stack: str) -> set[tuple[str, str]]:
            found = set()
            for r in plans[stack].records:
                if r.type == "gcp:projects/iAMMember:IAMMember" and r.parent and "shoestring:k8s:Project" in r.parent:
                    found.add(("project", r.inputs["project"]))
                elif r.type == "gcp:secretmanager/secretIamMember:SecretIamMember":
                    found.add(("secret", r.inputs["secretId"]))
                elif r.type == "gcp:storage/bucketIAMMember:BucketIAMMember":
                    found.add(("bucket", r.inputs["bucket"]))
            return found

        assert grants("staging") and grants("prod")
        assert not grants("staging") & grants("prod")
        assert not any(kind == "project" for kind, _ in grants("staging"))

    def test_no_two_stacks_declare_one_namespace_or_share_a_bucket(self, plans):
        assert rules.cross_stack_violations({stack: plan.records for stack, plan in plans.items()}) == []

    def test_a_namespace_two_stacks_declare_in_one_cluster_is_refused_naming_both(self, plans):
        staging_blog = next(r for r in plans["staging"].records if r.type == security.NAMESPACE and r.inputs["metadata"]["name"] == "blog-staging")
        prod = [*plans["prod"].records, staging_blog]
        [violation] = security.shared_namespaces({"prod": prod, "staging": plans["staging"].records})
        assert str(violation) == "one-stack-per-namespace: kubernetes:core/v1:Namespace blog-staging: is declared by stacks prod and staging in prod's cluster; rename one project"

    def test_two_stacks_granted_one_bucket_are_refused(self, plans):
        # Staging naming prod's bucket as its external one.
        prods = next(r for r in plans["prod"].records if r.type == security.BUCKET_ACCESS).inputs["bucket"]
        staging = [r if r.type != security.BUCKET_ACCESS else type(r)(**{**r.__dict__, "inputs": {**r.inputs, "bucket": prods}}) for r in plans["staging"].records]
        [violation] = security.shared_buckets({"prod": plans["prod"].records, "staging": staging})
        assert f"are all granted bucket {prods}; give each stack its own" in violation.message


class TestRulesSeeWhatAProjectCanDeclare:
    def test_a_binding_to_the_admin_cluster_role_in_a_namespace_is_refused(self):
        assert security.no_cluster_rbac("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", {"roleRef": {"name": "admin"}})
        assert not security.no_cluster_rbac("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", {"roleRef": {"name": "view"}})

    def test_every_shipped_resource_is_declared_by_a_component_and_stays_in_its_namespace(self, plans):
        for stack, plan in plans.items():
            assert security.declared_by_components(plan.records) == [], stack
            assert security.project_objects_in_own_namespace(plan.records) == [], stack


class TestThePolicyPackSeesTheSame:
    @staticmethod
    def stack_args(records):
        from pulumi_policy import PolicyResource, PolicyResourceOptions, StackValidationArgs

        built: dict[str, PolicyResource] = {}
        for record in sorted(records, key=lambda r: r.urn.count("$")):  # parents before children
            options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[], additional_secret_outputs=[], custom_timeouts=None, parent=None)
            parent = built.get(record.parent) if record.parent else None
            built[record.urn] = PolicyResource(record.type, record.inputs, record.urn, record.name, options, None, parent, [], {})
        return StackValidationArgs(resources=list(built.values()))

    def test_a_deployment_moved_into_another_namespace_is_reported_by_the_pack(self, plans):
        import copy
        import dataclasses

        from test_cost import guardrails  # policies/guardrails.py, as test_cost puts it on the path

        moved = []
        for record in plans["prod"].records:
            if record.type == "kubernetes:apps/v1:Deployment" and record.name == "ml-worker":
                inputs = copy.deepcopy(record.inputs)
                inputs["metadata"]["namespace"] = "blog"
                record = dataclasses.replace(record, inputs=inputs)
            moved.append(record)
        found: list[str] = []
        guardrails.stack_policy(rules.stack_check("projects-stay-in-their-namespaces"))(self.stack_args(plans["prod"].records), found.append)
        assert found == []
        guardrails.stack_policy(rules.stack_check("projects-stay-in-their-namespaces"))(self.stack_args(moved), found.append)
        assert found == ["kubernetes:apps/v1:Deployment ml-worker: is in namespace blog, not its project's ml"]
