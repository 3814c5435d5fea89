"""Small assertions the specs share."""

from __future__ import annotations

from shoestring.offline import Plan, Record

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"


def only(plan: Plan, type_: str, name: str | None = None) -> Record:
    """The single resource of a type (and name) in a plan; fails if there is not exactly one."""
    found = [r for r in plan.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]
