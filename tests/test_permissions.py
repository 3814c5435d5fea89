"""The deployer's roles: every resource type a stack can declare has the IAM roles that create
it listed, so `pulumi up` never stops halfway on a permission the README did not mention."""

from __future__ import annotations

import pytest

from shoestring import permissions


def test_every_declared_resource_type_has_its_roles_listed(plans):
    for stack, plan in plans.items():
        for record in plan.records:
            assert permissions.grant_for(record.type) is not None, f"{stack}: {record.type} has no roles in shoestring/permissions.py"


def test_a_type_with_no_roles_listed_stops_the_table():
    with pytest.raises(KeyError, match="gcp:sql/databaseInstance:DatabaseInstance"):
        permissions.roles_for(["gcp:sql/databaseInstance:DatabaseInstance"])


def test_nodes_that_run_as_their_own_service_account_need_service_account_user(plans):
    needed = permissions.roles_for(r.type for r in plans["prod"].records)["project"]
    assert "roles/iam.serviceAccountUser" in needed  # iam.serviceAccounts.actAs on the node account
    assert "roles/container.admin" in needed and "roles/compute.publicIpAdmin" in needed


def test_the_budget_is_granted_on_the_billing_account():
    assert permissions.roles_for(permissions.BUDGET_TYPES)["billing account"] == {"roles/billing.costsManager": ["gcp:billing/budget:Budget"]}
