"""Careless input is refused before anything is declared: one message naming the key, the value and
the fix, never a coercion that changes what the file says (issue 28)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import copy_of_repository
from pydantic import ValidationError

from program import config, definitions
from program.config import ConfigError
from program.config.release_channels import AVAILABLE_MINOR_VERSIONS
from program.definitions import App, Bootstrap, Public, Resources

APP = {"name": "web", "image": "ghcr.io/acme/web", "tag": "9c4e1f2a7b3d", "port": 8080, "repository": "https://github.com/acme/web"}


def refused(model, **fields) -> str:
    with pytest.raises(ValidationError) as raised:
        model(**fields)
    (error,) = raised.value.errors()
    return error["msg"]


def prod_with(change) -> str:
    """The message of prod's configuration with its flat config changed by ``change(raw, projects)``."""
    raw = config.read_stack_files("prod")[0]
    projects = json.loads(raw["shoestring:projects"])
    change(raw, projects)
    with pytest.raises(ConfigError) as raised:
        config.load("prod", raw | {"shoestring:projects": json.dumps(projects)}, definitions.discover())
    (problem,) = raised.value.problems
    return problem


class TestEnv:
    """Plain env is text in git: a credential in it, by its name or its value, points to `secrets`."""

    @pytest.mark.parametrize("name", ["DBPASSWORD", "GITHUB_PAT", "API_KEYS", "SLACK_TOKENS", "PRIVATE_KEY", "DB_PWD"])
    def test_a_name_that_reads_as_a_credential_points_to_secrets(self, name):
        message = refused(App, **APP, env={name: "x"})
        assert f"env {name} reads as a credential" in message and f"secrets={{{name!r}: '<secret id>'}}" in message

    @pytest.mark.parametrize("value", [
        "postgres://admin:hunter2@db.internal:5432/blog",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
        "ghp_" + "a1B2" * 9,
        "github_pat_11ABCDEFG0" + "x" * 40,
        "AKIAIOSFODNN7EXAMPLE",
    ], ids=["url-password", "pem", "github-token", "github-pat", "aws-key"])
    def test_a_value_that_is_a_credential_points_to_secrets_without_repeating_it(self, value):
        message = refused(App, **APP, env={"DATABASE": value})
        assert "env DATABASE's value holds a credential" in message and "secrets={'DATABASE': '<secret id>'}" in message
        assert value not in message

    @pytest.mark.parametrize("name", ["A=B", "MY-VAR", "1ST", "HAS SPACE", "A.B"])
    def test_a_name_that_is_not_a_variable_name_is_refused(self, name):
        assert f"env name {name!r} is not a variable name" in refused(App, **APP, env={name: "x"})

    def test_ordinary_names_and_values_pass(self):
        env = {"API_URL": "http://backend:8000", "KEYCLOAK_URL": "https://id.example.com", "MONKEY": "y", "PASSPORT_OFFICE": "z", "LINK": "https://user@host/x"}
        assert App(**APP, env=env).env == env


class TestQuantitiesAndCommands:
    @pytest.mark.parametrize("field", ["cpu", "memory", "cpu_limit", "memory_limit"])
    @pytest.mark.parametrize("zero", ["0", "0m", "0.0", "0Mi"])
    def test_a_zero_request_or_limit_is_refused(self, field, zero):
        # Requests of 0 make a BestEffort pod, which the namespace's ResourceQuota does not count.
        assert f"{zero!r} is zero; give what the container needs" in refused(Resources, **{field: zero})

    def test_positive_quantities_pass(self):
        assert Resources(cpu="0.5", memory="64Mi").cpu == "0.5"

    @pytest.mark.parametrize("command", [(), ("",), ("  ", "-m", "x")])
    def test_an_empty_bootstrap_command_is_refused(self, command):
        assert "the command is empty" in refused(Bootstrap, command=command)


class TestRoutePaths:
    """What the Gateway API's CEL rules refuse in an HTTPRoute path (gateway-api apis/v1/httproute_types.go:531-538, 556)."""

    @pytest.mark.parametrize(("path", "part"), [("/../../admin", "/../"), ("/a//b", "//"), ("/a/./b", "/./"), ("/a/..", "/.."), ("/a/.", "/.")])
    def test_a_path_the_gateway_api_refuses_is_refused(self, path, part):
        assert f"contains {part!r}, which the Gateway API refuses" in refused(Public, hosts=("blog.example.com",), path=path)

    def test_a_path_longer_than_the_gateway_api_takes_is_refused(self):
        assert "is 2001 characters; the Gateway API takes a route path of at most 1024" in refused(Public, hosts=("blog.example.com",), path="/" + "a" * 2000)

    def test_an_ordinary_path_passes(self):
        assert Public(hosts=("blog.example.com",), path="/api/v1.2").path == "/api/v1.2"


class TestHosts:
    @pytest.mark.parametrize("host", ["metadata.google.internal", "db.internal", "printer.local", "localhost.localhost",
                                      "backend.blog.svc.cluster.local", "x.svc.id.goog"])
    def test_a_host_that_is_not_a_public_name_is_refused(self, host):
        def public_host(raw, projects):
            projects["blog"]["apps"]["frontend"]["hosts"] = [host]

        problem = prod_with(public_host)
        assert problem.startswith(f"shoestring:projects = {host!r}: blog/frontend's public host is not a public name: its domain is ")
        assert "give a name of a domain you own" in problem


INT = "Input should be a valid integer; write a whole number, without quotes (e.g. 2)"
BOOL = "Input should be a valid boolean; write true or false, without quotes"


class TestStackValues:
    def test_a_gcp_project_that_is_not_a_project_id_is_refused(self):
        def display_name(raw, projects):
            raw["gcp:project"] = "My Project; $(id)"

        assert prod_with(display_name).startswith("gcp:project = 'My Project; $(id)' is not a GCP project ID: 6 to 30 lowercase letters")

    @pytest.mark.parametrize("project", ["abcde", "a" * 31, "1acme-prod", "acme-prod-", "acme_prod"])
    def test_project_ids_follow_googles_format(self, project):
        assert "is not a GCP project ID" in prod_with(lambda raw, projects: raw.update({"gcp:project": project}))

    def test_a_kubernetes_version_the_release_channel_does_not_offer_is_refused(self):
        low, high = AVAILABLE_MINOR_VERSIONS["STABLE"]  # prod's channel
        problem = prod_with(lambda raw, projects: raw.update({"shoestring:kubernetesVersion": "1.99"}))
        assert problem == (f"shoestring:kubernetesVersion = '1.99': the STABLE release channel of this stack's cluster offers 1.{low} to 1.{high} "
                           f"(GKE release notes, program/config/release_channels.py); set kubernetesVersion to one of them, e.g. '1.{high}'")

    def test_a_guest_stack_is_checked_against_its_hosts_channel(self):
        raw = config.read_stack_files("staging")[0] | {"shoestring:kubernetesVersion": "1.99"}
        with pytest.raises(ConfigError) as raised:
            config.load("staging", raw, definitions.discover())
        assert "the STABLE release channel of prod's cluster offers" in str(raised.value)

    @pytest.mark.parametrize(("where", "value", "message"), [
        (("blog", "apps", "frontend", "replicas"), True, INT),
        (("blog", "apps", "frontend", "replicas"), "2", INT),
        (("blog", "apps", "frontend", "replicas"), 2.0, INT),
        (("blog", "enabled"), 1, BOOL),
        (("blog", "enabled"), "yes", BOOL),
    ], ids=["true-for-int", "string-for-int", "float-for-int", "int-for-bool", "yes-for-bool"])
    def test_numbers_and_booleans_are_strict(self, where, value, message):
        def change(raw, projects):
            node = projects
            for part in where[:-1]:
                node = node[part]
            node[where[-1]] = value

        problem = prod_with(change)
        assert problem == f"shoestring:projects.{'.'.join(where)} = {value!r}: {message}"

    @pytest.mark.parametrize(("key", "text", "message"), [
        ("freeTier", "yes", "must be true or false"),
        ("budget", "nan", "must be a number"),
        ("budget", "inf", "must be a number"),
        ("expectedGpuHours", "ten", "must be a number"),
    ])
    def test_top_level_numbers_and_booleans_read_as_the_pulumi_sdk_reads_them(self, key, text, message):
        problem = prod_with(lambda raw, projects: raw.update({f"shoestring:{key}": text}))
        assert problem.startswith(f"shoestring:{key} = {text!r}: {message}")

    def test_a_stack_may_not_add_a_secret_name_the_definition_does_not_have(self):
        def add_secret(raw, projects):
            projects["blog"]["apps"]["backend"]["secrets"] = {"DATABASE_URL": "blog-db-url", "ADMIN_TOKEN": "ml-api-key"}

        problem = prod_with(add_secret)
        assert problem.startswith("shoestring:projects.blog.apps.backend.secrets = ['ADMIN_TOKEN', 'DATABASE_URL']: adds ['ADMIN_TOKEN'], which the definition does not have")
        assert "add a secret to the app in projects/blog.py" in problem

    def test_a_stack_may_not_leave_out_a_secret_the_app_reads(self):
        problem = prod_with(lambda raw, projects: projects["blog"]["apps"]["backend"].update({"secrets": {}}))
        assert problem.startswith("shoestring:projects.blog.apps.backend.secrets = []: leaves out ['DATABASE_URL'], which the app reads")


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_of_repository(tmp_path_factory, "careless")


@pytest.mark.slow
@pytest.mark.parametrize(("change", "message"), [
    (lambda text: text.replace(b"# dev:", b"# d\xe9v:", 1), "stacks/Pulumi.dev.yaml:1: byte 0xe9 is not UTF-8 text; save the file as UTF-8"),
    (lambda text: text.replace(b"gcp:project: replace-with-dev-project-id", b"gcp:project: 'My Project; $(id)'"), "gcp:project = 'My Project; $(id)' is not a GCP project ID"),
    (lambda text: text.replace(b"frontend: {replicas: 1,", b"frontend: {replicas: true,"), "shoestring:projects.blog.apps.frontend.replicas = True: Input should be a valid integer"),
], ids=["non-utf-8", "gcp-project", "replicas-true"])
def test_make_plan_ends_careless_input_in_one_message_exit_1_no_traceback(clone, change, message):
    stack_file = clone / "stacks" / "Pulumi.dev.yaml"
    original = stack_file.read_bytes()
    assert change(original) != original
    stack_file.write_bytes(change(original))
    started = time.monotonic()
    try:
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "dev"], cwd=clone, capture_output=True, text=True, timeout=30)
    finally:
        stack_file.write_bytes(original)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr and completed.stderr.count("error:") == 1
    assert message in completed.stderr
    assert time.monotonic() - started < 30
