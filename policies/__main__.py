"""Shoestring's CrossGuard policy pack: `pulumi preview --policy-pack policies`."""

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy

import guardrails

from shoestring import cis_gke, name_rules, security  # noqa: E402  (guardrails puts the repository root on the path)

PolicyPack(
    name="shoestring-cost",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *[
            ResourceValidationPolicy(name=rule.name, description=rule.description, validate=guardrails.security_rule(rule))
            for rule in security.RULES + cis_gke.RULES + name_rules.RULES
        ],
        StackValidationPolicy(
            name="apis-enabled-before-use",
            description="Every GCP resource has the Google API it is created through enabled by the stack, and waits for it.",
            validate=guardrails.apis_enabled_before_use,
        ),
        StackValidationPolicy(
            name="projects-stay-in-their-namespaces",
            description="Every resource comes from a Shoestring component; a project's objects stay in its namespace.",
            validate=guardrails.projects_stay_in_their_namespaces,
        ),
        StackValidationPolicy(
            name="one-declaration-per-kubernetes-object",
            description="No Kubernetes object (kind, namespace, name) is declared twice in a stack.",
            validate=guardrails.one_declaration_per_kubernetes_object,
        ),
        StackValidationPolicy(
            name="namespaces-have-network-policies",
            description="Every namespace the stack declares has a NetworkPolicy (CIS GKE 4.3.2).",
            validate=guardrails.namespaces_have_network_policies,
        ),
        StackValidationPolicy(
            name="default-service-accounts-without-token",
            description="Every namespace the stack declares has its default ServiceAccount set not to mount a token (CIS GKE 4.1.4).",
            validate=guardrails.default_service_accounts_without_token,
        ),
        StackValidationPolicy(
            name="binary-authorization-policy",
            description="The Binary Authorization policy the cluster enforces is declared, denies by default and admits every image the stack runs (CIS GKE 4.5.1, 5.1.4).",
            validate=guardrails.binary_authorization_policy,
        ),
        StackValidationPolicy(
            name="no-shadowed-hosts",
            description="No project routes a host another project serves (a path under another's host included).",
            validate=guardrails.no_shadowed_hosts,
        ),
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
