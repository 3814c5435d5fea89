"""Config: one clear error naming the key, the value and the fix, before any resource exists."""

from __future__ import annotations

import json

import pytest
from helpers import run_rejected

from program import config, definitions
from program.config import ConfigError

VALID = {
    "gcp:project": "acme-prod",
    "shoestring:zone": "us-central1-a",
    "shoestring:gpuPool": json.dumps({"machineType": "g2-standard-4", "accelerator": "nvidia-l4"}),
}


def load(**overrides: object) -> config.StackConfig:
    raw = dict(VALID)
    for key, value in overrides.items():
        full = key if ":" in key else f"shoestring:{key}"
        if value is None:
            raw.pop(full, None)
        else:
            raw[full] = value if isinstance(value, str) else json.dumps(value)
    return config.load("test", raw)


def problem(**overrides: object) -> str:
    with pytest.raises(ConfigError) as raised:
        load(**overrides)
    return str(raised.value)


def test_a_minimal_stack_gets_cheap_secure_defaults():
    cfg = load()
    assert cfg.zone == "us-central1-a" and cfg.region == "us-central1"
    assert cfg.deletion_protection is True and cfg.free_tier is False
    assert cfg.default_pool.machine_type == "e2-medium"
    assert (cfg.default_pool.min_nodes, cfg.default_pool.max_nodes) == (1, 3)
    assert cfg.default_pool.disk_type == "pd-standard"
    assert cfg.gpu_pool is not None and cfg.gpu_pool.min_nodes == 0
    assert cfg.gpu_zone == "us-central1-a"


def test_a_region_where_a_zone_belongs_says_a_zone_is_needed_and_why():
    message = problem(zone="us-central1")
    assert "shoestring:zone = 'us-central1'" in message
    assert "is a region; a zone is needed, e.g. us-central1-a" in message
    assert "management fee" in message


def test_a_gpu_pool_that_cannot_scale_to_zero_states_what_it_costs():
    message = problem(gpuPool={"machineType": "g2-standard-4", "accelerator": "nvidia-l4", "minNodes": 1})
    assert "shoestring:gpuPool.minNodes = 1" in message
    # 1 x g2-standard-4 in us-central1 at $0.706832255/h x 730 h, and its 100 GB pd-balanced boot
    # disk at $0.10/GB (program/prices.yaml): the same figure the estimator and policy pack give.
    assert "$525.99/month" in message
    assert "keepWarm: true" in message


def test_keep_warm_is_the_explicit_override_for_warm_gpu_nodes():
    cfg = load(gpuPool={"machineType": "g2-standard-4", "accelerator": "nvidia-l4", "minNodes": 1, "keepWarm": True})
    assert cfg.gpu_pool.min_nodes == 1


@pytest.mark.parametrize(
    ("machine", "accelerator", "needed"),
    [("n1-standard-4", "nvidia-l4", "g2-*"), ("g2-standard-4", "nvidia-tesla-t4", "n1-*")],
)
def test_an_accelerator_on_a_machine_family_that_cannot_carry_it_is_refused(machine, accelerator, needed):
    message = problem(gpuPool={"machineType": machine, "accelerator": accelerator})
    assert f"shoestring:gpuPool.machineType = '{machine}': cannot carry {accelerator}" in message
    assert f"needs a {needed} machine type" in message


def test_a_g2_machine_carries_exactly_its_bundled_gpu():
    message = problem(gpuPool={"machineType": "g2-standard-4", "accelerator": "nvidia-l4", "acceleratorCount": 2})
    assert "shoestring:gpuPool.acceleratorCount = 2: g2-standard-4 comes with exactly 1 nvidia-l4" in message


@pytest.mark.parametrize("pool", ["defaultPool", "gpuPool"])
def test_max_nodes_below_min_nodes_is_refused(pool):
    settings = {"minNodes": 3, "maxNodes": 2}
    if pool == "gpuPool":
        settings |= {"accelerator": "nvidia-l4", "keepWarm": True}
    message = problem(**{pool: settings})
    assert f"shoestring:{pool}" in message
    assert "maxNodes (2) is below minNodes (3); set maxNodes to at least 3" in message


def test_the_default_pool_keeps_a_node_so_the_gpu_pool_is_never_the_only_home():
    message = problem(defaultPool={"minNodes": 0})
    assert "shoestring:defaultPool.minNodes = 0" in message
    assert "system pods" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"defaultPool": {"machinType": "e2-small"}}, "shoestring:defaultPool.machinType is not a known setting; did you mean machineType?"),
        ({"gpuPool": {"acelerator": "nvidia-l4"}}, "shoestring:gpuPool.acelerator is not a known setting; did you mean accelerator?"),
        ({"zonee": "us-central1-a"}, "shoestring:zonee is not a Shoestring setting; did you mean zone?"),
    ],
)
def test_a_typo_names_the_key_and_the_setting_it_meant(overrides, expected):
    assert expected in problem(**overrides)


def test_missing_required_keys_say_how_to_set_them():
    message = problem(zone=None, **{"gcp:project": None})
    assert "gcp:project is missing: add `gcp:project: <your-project-id>` under `config:` in stacks/Pulumi." in message
    assert "shoestring:zone is missing" in message


def test_unknown_values_list_the_allowed_ones():
    assert "'DEFAULT' or 'LATEST'" in problem(gpuPool={"accelerator": "nvidia-l4", "driverVersion": "NEWEST"})
    assert "not a priced machine type in us-central1; use one of" in problem(defaultPool={"machineType": "e2-huge"})


def test_the_gpu_zone_must_be_in_the_clusters_region():
    message = problem(gpuPool={"accelerator": "nvidia-l4", "zone": "europe-west1-b"})
    assert "shoestring:gpuPool.zone = 'europe-west1-b': must be in the cluster's region us-central1" in message


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        load(defaultPool={"minNodes": 0, "maxNods": 2})
    assert len(raised.value.problems) == 2


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_with_a_region_for_its_zone_fails_before_declaring_anything(stack):
    raw, _, _ = config.read_stack_files(stack)
    raw["shoestring:zone"] = raw["shoestring:zone"].rsplit("-", 1)[0]
    plan, errors = run_rejected(stack, raw)
    assert plan.records == []
    assert len(errors) == 1 and "a zone is needed" in str(errors[0])


@pytest.mark.parametrize("tag", ["latest", "v1", "1.2.3", "9C4E1F2A7B3D", "abc", "9c4e1f2a7b3d@sha256:abc", "latest@sha256:" + "0" * 64])
def test_an_image_tag_that_is_not_a_commit_sha_is_refused_naming_the_key_and_the_fix(tag):
    raw = config.read_stack_files("prod")[0]
    projects = json.loads(raw["shoestring:projects"])
    projects["blog"]["apps"]["frontend"]["tag"] = tag
    with pytest.raises(config.ConfigError) as raised:
        config.load("prod", raw | {"shoestring:projects": json.dumps(projects)}, definitions.discover())
    message = str(raised.value)
    assert "shoestring:projects.blog.apps.frontend.tag" in message and repr(tag) in message
    assert "is not a commit sha; tag the image with the commit it was built from" in message


def test_a_tag_may_pin_its_digest_after_the_commit_and_the_commit_is_what_on_call_compares():
    from program.definitions import App

    app = App(name="web", image="ghcr.io/acme/web", tag="9c4e1f2a7b3d@sha256:" + "a" * 64, port=8080, repository="https://github.com/acme/r")
    assert app.commit == "9c4e1f2a7b3d"


@pytest.mark.parametrize("name", ["DB_PASSWORD", "API_KEY", "GITHUB_TOKEN", "client-secret"])
def test_an_env_name_that_reads_as_a_credential_is_refused_naming_secrets_as_the_fix(name):
    from pydantic import ValidationError

    from program.definitions import App

    with pytest.raises(ValidationError) as raised:
        App(name="web", image="i", tag="9c4e1f2a7b3d", port=8080, repository="https://github.com/acme/r", env={name: "hunter2"})
    assert f"env {name} reads as a credential, and env is plain text in git; store it in Secret Manager" in str(raised.value)
    assert App(name="web", image="i", tag="9c4e1f2a7b3d", port=8080, repository="https://github.com/acme/r", env={"KEYCLOAK_URL": "x", "MONKEY": "y"}).env


class TestControlPlane:
    """`shoestring:controlPlane`: the DNS-based endpoint alone by default, authorized networks by choice."""

    def test_by_default_no_network_reaches_the_ip_endpoints(self):
        cfg = load()
        assert cfg.control_plane.authorized_networks == [] and cfg.control_plane.rbac_security_group is None
        assert cfg.private_nodes is False

    def test_authorized_networks_must_be_cidr_blocks_and_never_the_whole_internet(self):
        assert load(controlPlane={"authorizedNetworks": ["203.0.113.0/24"]}).control_plane.authorized_networks == ["203.0.113.0/24"]
        message = problem(controlPlane={"authorizedNetworks": ["office"]})
        assert "shoestring:controlPlane.authorizedNetworks = ['office']: 'office' is not a CIDR block; write e.g. 203.0.113.0/24" in message
        message = problem(controlPlane={"authorizedNetworks": ["0.0.0.0/0"]})
        assert "together admit 4,294,967,296 IPv4 addresses to the control plane (0.0.0.0/0: the whole internet)" in message

    def test_the_union_of_authorized_networks_is_counted_not_string_matched(self):
        """Two halves of the internet are the internet: coverage is computed over the union, and
        at most a /16's worth of IPv4 addresses (MAX_AUTHORIZED_ADDRESSES) may be authorized."""
        assert load(controlPlane={"authorizedNetworks": ["10.0.0.0/17", "10.0.128.0/17"]}).control_plane.authorized_networks
        message = problem(controlPlane={"authorizedNetworks": ["0.0.0.0/1", "128.0.0.0/1"]})
        assert message == (
            "stack configuration has 1 problem:\n  - shoestring:controlPlane.authorizedNetworks = ['0.0.0.0/1', '128.0.0.0/1']: "
            "these networks together admit 4,294,967,296 IPv4 addresses to the control plane (0.0.0.0/0: the whole internet); "
            "at most 65,536 (a /16's worth) may be authorized: list only your own networks, or none to reach the cluster "
            "through its DNS-based endpoint alone"
        )
        assert "together admit 65,792 IPv4 addresses" in problem(controlPlane={"authorizedNetworks": ["10.0.0.0/16", "203.0.113.0/24"]})

    def test_the_rbac_group_must_be_gke_security_groups_of_a_domain(self):
        assert load(controlPlane={"rbacSecurityGroup": "gke-security-groups@example.com"}).control_plane.rbac_security_group
        message = problem(controlPlane={"rbacSecurityGroup": "admins@example.com"})
        assert "shoestring:controlPlane.rbacSecurityGroup = 'admins@example.com'" in message

    def test_a_typo_inside_it_names_the_known_keys(self):
        assert "shoestring:controlPlane.authorisedNetworks is not a known setting; did you mean authorizedNetworks?" in problem(
            controlPlane={"authorisedNetworks": []}
        )


def test_a_part_time_stack_may_say_how_many_hours_a_month_it_lives():
    assert load(hoursPerMonth=60).hours_per_month == 60
    assert load().hours_per_month is None  # always on


def test_hours_per_month_beyond_the_month_is_refused_naming_the_key():
    assert "shoestring:hoursPerMonth = 800: Input should be less than or equal to 730" in problem(hoursPerMonth=800)
