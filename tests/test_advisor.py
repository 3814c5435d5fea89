"""The right-sizing advisor: the cheapest DNS provider and pool shapes that run a stack's pods
keeping every guarantee, priced from the catalog, and the one prod ships."""

from __future__ import annotations

import pytest

from program import capacity, catalog
from shoestring import advisor

QUERIES_PER_SECOND = 5  # prod's shoestring:dns.queriesPerSecond


@pytest.fixture(scope="module")
def found(plans) -> list[advisor.Shape]:
    prod = plans["prod"].records
    return advisor.shapes(
        "us-central1", capacity.pods_of(prod), capacity.pods_of(plans["staging"].records), addons=capacity.cluster_addons(prod), queries_per_second=QUERIES_PER_SECOND
    )


def test_shapes_come_cheapest_first_across_dns_providers_and_several_small_nodes(found):
    assert [round(s.monthly, 2) for s in found] == sorted(round(s.monthly, 2) for s in found)
    assert {s.dns.name for s in found} == {"kube-dns", "kube-dns, 1 replica", "Cloud DNS"}
    assert [s for s in found if s.on_demand_nodes >= 2 and s.on_demand.name == "e2-small"], "no shape of several small on-demand nodes"
    assert {s.spot.name.split("-")[0] for s in found if s.spot} >= {"e2", "n2d", "t2d", "n1"}


def test_prod_ships_the_cheapest_shape_the_program_can_declare(plans, found):
    best = advisor.chosen(found)
    assert (best.dns.name, best.describe()) == ("Cloud DNS", ("2 × e2-small", "1 × n2d-standard-2"))
    assert best is found[0]
    pools = {p.name: p for p in capacity.pools_of(plans["prod"].records, "us-central1")}
    assert (pools["default-pool"].machine.name, pools["default-pool"].min_nodes) == ("e2-small", 2)
    assert (pools["spot-pool"].machine.name, pools["spot-pool"].min_nodes) == ("n2d-standard-2", 1)
    assert advisor.declared_queries_per_second(plans["prod"].records) == QUERIES_PER_SECOND


def test_kube_dns_tuned_to_one_replica_is_listed_but_never_chosen(found):
    tuned = [s for s in found if s.dns.name == "kube-dns, 1 replica"]
    assert tuned and not any(s.dns.shipped for s in tuned)
    assert advisor.chosen(tuned) is None


def test_every_shape_keeps_its_system_pods_and_a_replica_of_each_app_on_its_on_demand_nodes(plans, found):
    prod = plans["prod"].records
    apps = list({p.owner: p for p in capacity.pods_of(prod) if not p.gpus}.values())
    addons = capacity.cluster_addons(prod)
    for shape in found:
        pool = capacity.Pool("default-pool", shape.on_demand, False, shape.on_demand_nodes, shape.on_demand_nodes, {"shoestring.dev/capacity": "on-demand"}, frozenset(), 0, addons)
        assert capacity.place([pool], [*apps, *shape.dns.system]).unschedulable == [], shape.describe()


def test_every_shape_keeps_the_headroom_floor_and_the_seeds_capacity(plans, found):
    prod, guests = plans["prod"].records, plans["staging"].records
    pods = [p for p in [*capacity.pods_of(prod), *capacity.pods_of(guests)] if not p.gpus]
    for shape in found:
        assert shape.vcpus >= 3 and shape.memory_gb >= 11.25, shape.describe()
        pools = [advisor._pool("default-pool", shape.on_demand, shape.on_demand_nodes, False, capacity.cluster_addons(prod))]
        if shape.spot:
            pools.append(advisor._pool("spot-pool", shape.spot, shape.spot_nodes, True, capacity.cluster_addons(prod)))
        assert not any(room.short for room in capacity.headroom(capacity.place(pools, [*shape.dns.system, *pods]))), shape.describe()


def test_a_single_shared_core_on_demand_node_is_never_enough_for_prod(found):
    # One e2-small leaves 0.94 - 0.435 (DaemonSets, the Secret Manager driver's included) = 0.505
    # vCPU: not enough for GKE's cluster pods and a replica of each blog app, even without kube-dns.
    assert not [s for s in found if s.describe()[0] in ("1 × e2-small", "1 × e2-medium")]


def test_a_shape_is_priced_from_the_catalog_with_its_disks_addresses_and_dns(found):
    best = found[0]
    e2, n2d = catalog.machine("us-central1", "e2-small"), catalog.machine("us-central1", "n2d-standard-2")
    disk = 30 * 0.04
    nodes = 2 * ((e2.hourly + 0.005) * 730 + disk) + (n2d.spot_hourly + 0.0025) * 730 + disk  # $60.95
    # The private zone ($0.20) and 5 queries a second for 730 hours at $0.40 per million.
    dns = 0.20 + QUERIES_PER_SECOND * 3600 * 730 / 1e6 * 0.40  # $5.46
    assert best.nodes_monthly == pytest.approx(nodes) and best.monthly == pytest.approx(nodes + dns)
    assert best.monthly_1y == pytest.approx(2 * ((e2.commit_1y_hourly + 0.005) * 730 + disk) + (n2d.spot_hourly + 0.0025) * 730 + disk + dns)
    assert (best.vcpus, best.memory_gb) == (3, 12)


def test_it_says_why_it_chose_and_where_cloud_dns_stops_paying(found):
    why = advisor.why(found, QUERIES_PER_SECOND)
    assert why[0].startswith("Chosen: Cloud DNS, 2 × e2-small on demand, 1 × n2d-standard-2 Spot")
    assert any(line.startswith("Cheapest with kube-dns: ") for line in why)
    [break_even] = [line for line in why if line.startswith("Cloud DNS's nodes cost")]
    assert "it stops paying above" in break_even and "priced here at 5/s" in break_even
