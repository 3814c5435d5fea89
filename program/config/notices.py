"""Accepted choices the program reports as warnings: an opted-in LoadBalancer's price, an app
kept internal for want of a public entry, a secret without a value, an undeclared GPU quota."""

from __future__ import annotations

from collections.abc import Mapping

from program import catalog
from program.config.model import ProjectInstance, StackConfig
from program.quota import burst_needs
from program.definitions import Project


def secret_waits(cfg: StackConfig, app: str, secret: str) -> str:
    """What an app whose secret has no value in the stack does, and the two ways to give it one."""
    return (
        f"{app} waits for secret {secret}, which has no value in stack {cfg.stack}: `pulumi up` does not await its rollout "
        f"(pulumi.com/skipAwait) and its pods stay ContainerCreating until the secret has a version. Before `pulumi up`: "
        f"`pulumi config set --secret --path 'secretValues.{secret}' --stack {cfg.stack}` (it prompts for the value); or once "
        f"`pulumi up` has created the secret: `printf %s \"$VALUE\" | gcloud secrets versions add {secret} --data-file=- --project {cfg.gcp_project}` "
        '(docs/going-live.md "Secrets")'
    )


def notices(cfg: StackConfig, deployed: tuple[ProjectInstance, ...], defined: Mapping[str, Project]) -> tuple[str, ...]:
    first_five = catalog.forwarding_rules_hourly(cfg.region, 1) * catalog.HOURS_PER_MONTH
    beyond = (catalog.forwarding_rules_hourly(cfg.region, 6) - catalog.forwarding_rules_hourly(cfg.region, 5)) * catalog.HOURS_PER_MONTH
    notices = [
        f"{instance.namespace}/{app.name} is a LoadBalancer Service (opted in): a regional forwarding rule, "
        f"${first_five:,.2f}/month for the project's first five together and ${beyond:,.2f} for each beyond, before traffic"
        for instance in deployed
        for app in instance.apps
        if app.service_type == "LoadBalancer"
    ]
    if cfg.cluster_owner.public_entry == "none":
        internal = [
            f"{instance.namespace}/{app.name}"
            for instance in deployed
            for app in instance.apps
            if (defined_app := next((a for a in defined[instance.name].apps if a.name == app.name), None)) is not None and defined_app.public is not None
        ]
        if internal:
            notices.append(f"{', '.join(internal)}: public in its definition, internal in this stack, whose cluster has no public entry (publicEntry: none)")
    for instance in deployed:
        for app in instance.apps:
            for secret in sorted(set(app.secrets.values()) - set(cfg.secret_values)):
                notices.append(secret_waits(cfg, f"{instance.namespace}/{app.name}", secret))
    gpu = cfg.gpu_pool
    if cfg.owns_cluster and gpu is not None and gpu.quota is None:
        needed = gpu.gpus
        notices.append(
            f"gpuPool.quota is not declared: the GPU pool's ceiling needs {needed} {catalog.gpu_quota_metric(gpu.accelerator, gpu.spot)} in "
            f"{cfg.region} and {needed} GPUS_ALL_REGIONS, which a new project has 0 of. Check the console's Quotas page and declare "
            "what you have (gpuPool.quota): make plan then refuses a ceiling beyond it"
        )
    undeclared = [need for need in burst_needs(cfg) if need.declared is None] if cfg.owns_cluster and gpu is not None else []
    if undeclared:
        listed = ", ".join(f"{need.key} ({need.figure(need.needed)} {need.metric}{f' in {cfg.region}' if need.region else ''})" for need in undeclared)
        notices.append(
            f"gpuPool.quota does not declare {listed}: what a full GPU burst needs, which a new project's defaults may not hold — the "
            "autoscaler would stop adding nodes at the first. Check the console's Quotas page and declare what you have: make plan then "
            "refuses a ceiling beyond it"
        )
    if cfg.owns_cluster and cfg.budget is not None and not cfg.billing_account:
        notices.append(
            f"no Cloud Billing budget: the ${cfg.budget:,.2f}/month budget is checked by make plan and the policy pack only; set "
            "shoestring:billingAccount for Google to alert at 50/90/100% of it (docs/going-live.md \"Going live\")"
        )
    if cfg.budget_currency not in (None, "USD") and cfg.billing_account and cfg.owns_cluster:
        notices.append(
            f"budgetCurrency {cfg.budget_currency}: Google alerts at {cfg.budget:,.0f} {cfg.budget_currency} a month, while make plan, "
            f"make cost and the policy pack compare the budget of {cfg.budget:,.2f} with the estimate in US dollars"
        )
    return tuple(notices)
