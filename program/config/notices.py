"""Accepted choices the program reports as warnings: an opted-in LoadBalancer's price, an app
kept internal for want of a public entry, a secret without a value, an undeclared GPU quota."""

from __future__ import annotations

from collections.abc import Mapping

from program import catalog
from program.config.model import ProjectInstance, StackConfig
from program.quota import burst_needs
from program.definitions import Project


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
        for secret in sorted({secret for app in instance.apps for secret in app.secrets.values()}):
            notices.append(
                f"secret {secret} ({instance.namespace}) is declared without a value: its apps wait for one. Add it once with "
                f"`printf %s \"$VALUE\" | gcloud secrets versions add {secret} --data-file=- --project {cfg.gcp_project}` (docs/going-live.md \"Going live\")"
            )
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
    return tuple(notices)
