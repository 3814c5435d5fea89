"""Secrets cannot hang a deploy: a value given in the stack's config is written as the secret's
version before any pod mounts it; an app whose secret has none is not awaited, and the plan says
which app waits for which secret and the command that gives it a value."""

from __future__ import annotations

import json
import shutil

import pytest

from program.config import ConfigError, read_stack_files
from shoestring import offline

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
VALUES = "shoestring:secretValues"


def backend(plan: offline.Plan) -> offline.Record:
    return next(r for r in plan.of_type(DEPLOYMENT) if r.name.endswith("-backend"))


def with_values(stack: str, values: dict, secret: bool = True) -> offline.Plan:
    config, secret_keys, _ = read_stack_files(stack)
    return offline.run(stack, config={**config, VALUES: json.dumps(values)}, secret_keys=[*secret_keys, *([VALUES] if secret else [])])


class TestASecretWithoutAValue:
    @pytest.mark.parametrize(("stack", "secret"), [("prod", "blog-db-url"), ("dev", "blog-db-url"), ("staging", "blog-staging-db-url")])
    def test_the_shipped_blog_backend_is_not_awaited_and_the_plan_names_the_app_the_secret_and_the_commands(self, plans, stack, secret):
        assert backend(plans[stack]).inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        [note] = [n for n in plans[stack].notes if "waits for secret" in n]
        namespace = "blog" if stack != "staging" else "blog-staging"
        assert f"{namespace}/backend waits for secret {secret}, which has no value in stack {stack}" in note
        assert f"`pulumi config set --secret --path 'secretValues.{secret}' --stack {stack}`" in note
        assert f"gcloud secrets versions add {secret} --data-file=-" in note

    def test_an_app_without_secrets_is_awaited(self, plans):
        frontend = next(r for r in plans["prod"].of_type(DEPLOYMENT) if r.name == "blog-frontend")
        assert "pulumi.com/skipAwait" not in (frontend.inputs["metadata"].get("annotations") or {})


@pytest.fixture(scope="module")
def valued() -> offline.Plan:
    return with_values("prod", {"blog-db-url": "postgres://blog@db/blog"})


class TestASecretValueFromTheStacksConfig:
    def test_it_is_written_as_the_secrets_version_a_secret_in_state_kept_on_destroy(self, valued):
        [version] = valued.of_type(SECRET_VERSION)
        [secret] = [r for r in valued.of_type("gcp:secretmanager/secret:Secret") if r.inputs["secretId"] == "blog-db-url"]
        assert version.inputs["secretData"] == "[secret]"
        assert secret.urn in version.dependencies and version.retain_on_delete

    def test_the_deployment_is_awaited_and_declared_after_the_version_and_the_grant_to_read_it(self, valued):
        deployment = backend(valued)
        assert "pulumi.com/skipAwait" not in deployment.inputs["metadata"]["annotations"]
        [version] = valued.of_type(SECRET_VERSION)
        [grant] = [r for r in valued.of_type("gcp:secretmanager/secretIamMember:SecretIamMember") if r.name == "blog-reads-blog-db-url"]
        assert {version.urn, grant.urn} <= set(deployment.dependencies)
        assert not [n for n in valued.notes if "waits for secret" in n]

    def test_a_value_in_plain_text_is_refused_naming_the_command(self):
        with pytest.raises(ConfigError, match=r"shoestring:secretValues is in plain text: set it with `pulumi config set --secret --path 'secretValues.<secret id>' \.\.\.`"):
            with_values("prod", {"blog-db-url": "x"}, secret=False)

    def test_a_value_for_a_secret_no_app_reads_is_refused_naming_the_one_meant(self):
        with pytest.raises(ConfigError, match=r"shoestring:secretValues.blog-db-ur = '\(secret\)': no app of this stack reads secret blog-db-ur; did you mean blog-db-url\?") as caught:
            with_values("prod", {"blog-db-ur": "hunter2-value"})
        assert "hunter2-value" not in str(caught.value)  # the message never carries the value

    def test_a_value_that_is_not_text_is_refused(self):
        with pytest.raises(ConfigError, match=r"secretValues.blog-db-url: the value must be non-empty text"):
            with_values("prod", {"blog-db-url": 1234})


def test_the_offline_plan_reads_a_value_set_with_path_as_a_secret_it_stands_in_for(tmp_path):
    # What `pulumi config set --secret --path 'secretValues.blog-db-url'` writes in the stack file.
    shutil.copy(offline.ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    text = (offline.ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(text + "  shoestring:secretValues:\n    blog-db-url:\n      secure: v1:AAAA\n")
    config, secret_keys, notes = read_stack_files("prod", tmp_path)
    assert VALUES in secret_keys and json.loads(config[VALUES]) == {"blog-db-url": "offline-stand-in-secret"}
    assert f"{VALUES} is an encrypted secret; the offline plan uses a stand-in value" in notes
