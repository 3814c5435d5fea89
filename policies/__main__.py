"""Shoestring's CrossGuard policy pack: `pulumi preview --policy-pack policies`."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

import guardrails

from shoestring import rules

PolicyPack(
    name="shoestring-cost",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *[
            ResourceValidationPolicy(name=rule.name, description=rule.description, validate=guardrails.security_rule(rule))
            for rule in rules.RESOURCE_RULES
        ],
        *[StackValidationPolicy(name=check.name, description=check.description, validate=guardrails.stack_policy(check)) for check in rules.STACK_CHECKS],
        StackValidationPolicy(
            name="monthly-budget",
            description="The stack's expected monthly cost, from Shoestring's price catalog, stays within its budget.",
            validate=guardrails.monthly_budget,
        ),
        ResourceValidationPolicy(
            name="zonal-cluster-only",
            description="GKE clusters are zonal: the free tier covers one zonal cluster per billing account, never a regional one.",
            validate=guardrails.zonal_cluster_only,
        ),
        ResourceValidationPolicy(
            name="gpu-pools-scale-to-zero",
            description="Node pools with GPUs scale to zero, so no GPU is billed while idle.",
            validate=guardrails.gpu_pools_scale_to_zero,
        ),
        ResourceValidationPolicy(
            name="no-load-balancer-services",
            description="No Service of type LoadBalancer: one shared public entry instead of a forwarding rule per service.",
            validate=guardrails.no_load_balancer_services,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ],
)
