"""MonthlyBudget: the stack's monthly budget, declared so every reader of the plan sees it."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from program.names import BUDGET_DISPLAY_NAME, fit

ALERT_THRESHOLDS = (0.5, 0.9, 1.0)


class MonthlyBudgetArgs(TypedDict):
    monthly_usd: float | None
    """The budget, in US dollars a month; None for none."""
    expected_gpu_hours: float
    """GPU node-hours a month the stack expects to run; the expected estimate counts them."""
    hours_per_month: NotRequired[float]
    """Hours a month a part-time stack exists; the estimate counts those instead of 730."""
    billing_account: NotRequired[str]
    """Cloud Billing account ID. When given with a budget, a Cloud Billing budget alerts at 50, 90
    and 100% of it."""
    quota_project: NotRequired[str]
    """GCP project the Budget API calls are billed to; required with ``billing_account``. The Budget
    API refuses user credentials (ADC from `gcloud auth application-default login`) without a
    quota project: "billingbudgets.googleapis.com API requires a quota project"
    (GoogleCloudPlatform/cloud-foundation-fabric#3360)."""
    project_number: NotRequired[pulumi.Input[str]]
    """Number of the GCP project whose whole bill the Cloud Billing budget counts: the cluster's
    nodes and disks, and also what carries no label of ours — the Gateway's forwarding rules
    (GKE's controller creates them), Cloud NAT, certificates, secrets, and the stacks that run in
    this cluster. The API takes ``projects/{number}``; an id gives a 400 or a perpetual diff
    (pulumi/pulumi-gcp#514)."""
    host_stack: NotRequired[str]
    """The stack whose cluster this stack runs in, if not its own: its nodes are that stack's bill."""
    currency: NotRequired[str]
    """ISO 4217 code of the billing account's currency. Default: omitted, and Google uses the
    account's own; any other code than the account's is refused (pulumi_gcp billing
    BudgetAmountSpecifiedAmountArgs.currency_code: "If specified, it must match the currency of
    the billing account")."""
    counted_credits_usd: NotRequired[float]
    """Credits the estimate subtracts that the alert does not (it tracks list spend): the GKE free
    tier's, for the stack claiming it. Added to the alert's amount so both agree. Default 0."""


class MonthlyBudget(pulumi.ComponentResource):
    """A stack's budget. Its figures are the component's own inputs, so the offline plan, the cost
    report and the CrossGuard policy pack all read the same numbers from the declared resources."""

    def __init__(self, name: str, args: MonthlyBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        props = {"monthlyUsd": args["monthly_usd"], "expectedGpuHours": args["expected_gpu_hours"], "hostStack": args.get("host_stack"), "hoursPerMonth": args.get("hours_per_month")}
        super().__init__("shoestring:cost:MonthlyBudget", name, props, opts)
        if "billing_account" in args and args["monthly_usd"] is not None:
            # Sends X-Goog-User-Project: the quota project, whatever credentials run `pulumi up`.
            billing = gcp.Provider(
                f"{name}-billing",
                project=args["quota_project"],
                billing_project=args["quota_project"],
                user_project_override=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            gcp.billing.Budget(
                name,
                billing_account=args["billing_account"],
                display_name=fit(name, BUDGET_DISPLAY_NAME),
                amount=gcp.billing.BudgetAmountArgs(
                    specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                        currency_code=args.get("currency"), units=str(round(args["monthly_usd"] + args.get("counted_credits_usd", 0.0)))
                    )
                ),
                budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                    projects=[pulumi.Output.concat("projects/", args["project_number"])],
                    # List spend: the provider's default, INCLUDE_ALL_CREDITS (pulumi_gcp billing
                    # BudgetBudgetFilterArgs.credit_types_treatment), subtracts promotional credits,
                    # so a trial's credits would keep every alert silent while real spend grows.
                    credit_types_treatment="EXCLUDE_ALL_CREDITS",
                ),
                threshold_rules=[gcp.billing.BudgetThresholdRuleArgs(threshold_percent=t) for t in ALERT_THRESHOLDS],
                opts=pulumi.ResourceOptions(parent=self, provider=billing),
            )
        self.register_outputs(props)
