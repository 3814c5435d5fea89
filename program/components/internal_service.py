"""InternalService: an app's Deployment and the Service other pods reach it by, inside the cluster."""

from __future__ import annotations

import json

from collections.abc import Mapping, Sequence
from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from program.components.compute_class import COMPUTE_CLASS_KEY, GPU_COMPUTE_CLASS
from program.components.gpu_pool import GPU_TAINT_KEY
from program.components.node_pool import CAPACITY_LABEL
from program.components.pod_security import restricted_container, restricted_pod
from program.components.public_entry import GATEWAY_API, GATEWAY_NAME
from program.components.spot_pool import SPOT_TAINT_KEY, SPOT_TAINT_VALUE
from program.names import GPU_RESOURCE, WHOLE_NODE_LABEL

HEALTH_CHECK_POLICY_API = "networking.gke.io/v1"
PLACEMENT_ANNOTATION = "shoestring.dev/placement"
"""Where the app's pods land (pool, machine, GPUs), for the plan and for people reading the cluster."""


class ContainerResources(TypedDict):
    cpu: str
    """CPU request, e.g. ``100m``."""
    memory: str
    """Memory request, e.g. ``128Mi``."""
    cpu_limit: str
    memory_limit: str


class PublicSpec(TypedDict):
    hosts: Sequence[str]
    """Host names the app answers on from the internet."""
    path: str
    """Path prefix routed to the app."""


class AppSpec(TypedDict):
    """What an app is, wherever it runs."""

    name: str
    """Name of the Deployment and the Service (a DNS label)."""
    image: str
    """Full image reference, tag included."""
    port: int
    """Container port, exposed by the Service under the same number."""
    resources: ContainerResources
    replicas: int
    """0 keeps the Deployment declared with no pods."""
    health_path: str
    """HTTP path of the readiness and liveness probes."""
    env: NotRequired[Mapping[str, str]]
    secrets: NotRequired[Mapping[str, str]]
    """Secret Manager secrets by the name the app knows them by, each ``projects/P/secrets/S``:
    mounted read-only under ``/var/run/secrets/shoestring/<NAME>`` (latest version) through GKE's
    Secret Manager add-on, with ``<NAME>_FILE`` in the environment. Never a Kubernetes Secret."""
    gpus: NotRequired[int]
    """GPUs per pod. Above 0 the pods tolerate the GPU taint and select ``gpu_node_selector``."""
    gpu_node_selector: NotRequired[Mapping[str, str]]
    """Node labels of the GPU pool; required when ``gpus`` is above 0."""
    whole_node: bool
    """At most one pod of any whole-node app per node."""
    spot: bool
    """The app may run replicas on Spot nodes. Only with two or more replicas
    and no GPUs (see ``tolerates_spot``): they then spread across on-demand and Spot capacity."""
    priority_class: NotRequired[str]
    """PriorityClass of the pods (program/names.py): who waits when capacity is short."""
    placement: NotRequired[str]
    """Human-readable pool and machine the pods land on, recorded as an annotation."""
    scheduled_after: NotRequired[Sequence[pulumi.Resource]]
    """What the pods need before they can be admitted and placed, which the Deployment waits for:
    the PriorityClass it names and the node pools it lands on (scheduling.py). Default none."""
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"]
    """``ClusterIP`` is reachable only inside the cluster and costs nothing."""
    public: NotRequired[PublicSpec]
    """Reachable from the internet through the cluster's shared public entry."""


class InternalServiceArgs(AppSpec):
    namespace: pulumi.Input[str]
    labels: Mapping[str, str]
    """Labels every object carries (project, environment)."""
    service_account: NotRequired[pulumi.Input[str]]
    """Kubernetes ServiceAccount the pods run as. Default the namespace's ``default``."""
    gateway_namespace: NotRequired[str]
    """Namespace of the shared Gateway; with ``public``, the app attaches an HTTPRoute to it."""
    secrets_ready: NotRequired[Sequence[pulumi.Resource]]
    """What its pods need before their secrets mount: the grants to read them, their versions.
    The Deployment is declared after them. Default none."""
    await_rollout: NotRequired[bool]
    """Whether `pulumi up` waits for the rollout (pulumi-kubernetes' default, 10 minutes). False
    when a secret the pods mount may have no version yet: they cannot start until someone adds
    one, and waiting would fail the deploy. Default True."""


class InternalService(pulumi.ComponentResource):
    """A Deployment whose pods pass Pod Security ``restricted``, and a ClusterIP Service in front.

    Pods run as a non-root user with a read-only root filesystem (``/tmp`` is a small emptyDir),
    no privilege escalation, no capabilities and the runtime's seccomp profile; they are
    bounded by requests and limits and probed over HTTP.
    """

    dns_name: pulumi.Output[str]
    """``<name>.<namespace>.svc.cluster.local``."""

    def __init__(self, name: str, args: InternalServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:InternalService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = args["name"]
        selector = {"app.kubernetes.io/name": app}
        labels = {**args["labels"], **selector}
        gpus = args.get("gpus", 0)
        whole_node = args["whole_node"]
        replicas = args["replicas"]
        # Replicas of a CPU app that declares Spot split across on-demand and Spot nodes (a skew of
        # at most one), so a preemption of every Spot node at once still leaves one ready on
        # on-demand capacity; the budget keeps drains (upgrades, scale-down) from taking the last one.
        spread = tolerates_spot(args["spot"], replicas, gpus)
        disruption_budget = replicas >= 2 and not gpus
        pod_labels = {**labels, WHOLE_NODE_LABEL: "true"} if whole_node else labels
        annotations = {PLACEMENT_ANNOTATION: args["placement"]} if "placement" in args else None
        # pulumi-kubernetes reads this annotation of the inputs and then reports the Deployment
        # created without awaiting its rollout (provider/pkg/metadata: AnnotationSkipAwait =
        # "pulumi.com/skipAwait"; SkipAwaitLogic, checked first by ReadyCondition).
        deployment_annotations = {**(annotations or {}), SKIP_AWAIT: "true"} if not args.get("await_rollout", True) else annotations

        probe = k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=args["health_path"], port="http"),
            period_seconds=10,
        )
        secrets = dict(args.get("secrets", {}))
        env = [k8s.core.v1.EnvVarArgs(name=f"{k}_FILE", value=f"{SECRETS_PATH}/{k}") for k in sorted(secrets)]
        mounts, volumes = scratch_space()
        provider_class = _secret_provider_class(name, app, args["namespace"], labels, secrets, child) if secrets else None
        if secrets:
            mounts.append(k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_PATH, read_only=True))
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="secrets",
                    csi=k8s.core.v1.CSIVolumeSourceArgs(
                        driver=SECRETS_DRIVER, read_only=True, volume_attributes={"secretProviderClass": f"{app}-secrets"}
                    ),
                )
            )
        container = workload_container(
            args,
            env_extra=env,
            mounts=mounts,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=args["port"])],
            readiness_probe=probe,
            liveness_probe=probe,
        )
        pod = workload_pod(
            args,
            container,
            volumes,
            tolerate_spot=spread,
            priority_class_name=args.get("priority_class"),
            affinity=_one_per_node() if whole_node else None,
            topology_spread_constraints=[
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key=CAPACITY_LABEL,
                    when_unsatisfiable="DoNotSchedule",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                )
            ] if spread else None,
        )
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args["namespace"], labels=labels, annotations=deployment_annotations),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # A surge pod would need a second GPU (a whole second node for a whole-node app): in a
                # pool at its maximum the rollout waits forever, below it every rollout bills a node.
                # Replace pods one at a time instead.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=0, max_unavailable=1),
                ) if gpus or whole_node else None,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations=annotations),
                    spec=pod,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*([provider_class] if provider_class else []), *args.get("scheduled_after", ()), *args.get("secrets_ready", ())] or None),
        )
        if disruption_budget:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args["namespace"], labels=labels),
                # A pod that never got ready (its secret has no version yet, its image does not pull)
                # may be evicted: with the default IfHealthyBudget, such pods would stall every node
                # drain and scale-down (kubernetes.io/docs/tasks/run-application/configure-pdb,
                # "Unhealthy Pod Eviction Policy").
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(min_available=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                                                               unhealthy_pod_eviction_policy="AlwaysAllow"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
            )
        # pulumi-kubernetes also awaits a Service with a selector until its Endpoints name a ready
        # pod, and fails it after 10 minutes (provider/pkg/await serviceInitAwaiter): a Service over
        # pods that wait for their secret is not awaited either, or the first `up` fails there.
        service = k8s.core.v1.Service(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args["namespace"], labels=labels,
                                                annotations=None if args.get("await_rollout", True) else {SKIP_AWAIT: "true"}),
            spec=k8s.core.v1.ServiceSpecArgs(
                type=args["service_type"],
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=args["port"], target_port="http")],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        if "public" in args and "gateway_namespace" in args:
            public = args["public"]
            k8s.apiextensions.CustomResource(
                name,
                api_version=GATEWAY_API,
                kind="HTTPRoute",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args["namespace"], labels=labels),
                spec={
                    "parentRefs": [{"name": GATEWAY_NAME, "namespace": args["gateway_namespace"], "sectionName": "https"}],
                    "hostnames": list(public["hosts"]),
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": public["path"]}}],
                            "backendRefs": [{"name": app, "port": args["port"]}],
                        }
                    ],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            )
            # The load balancer does not read the readiness probe: without this policy it probes "/"
            # on the serving port, and an app whose "/" is not 200 gets no traffic (502s).
            # cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources#configure_health_check
            k8s.apiextensions.CustomResource(
                f"{name}-health-check",
                api_version=HEALTH_CHECK_POLICY_API,
                kind="HealthCheckPolicy",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=app, namespace=args["namespace"], labels=labels),
                spec={
                    "default": {
                        "config": {
                            "type": "HTTP",
                            "httpHealthCheck": {"port": args["port"], "requestPath": args["health_path"]},
                        }
                    },
                    "targetRef": {"group": "", "kind": "Service", "name": app},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            )
        self.dns_name = pulumi.Output.concat(app, ".", service.metadata.namespace, ".svc.cluster.local")
        self.register_outputs({"dns_name": self.dns_name})


class WorkloadSpec(TypedDict):
    """What every workload's container and pod are built from: an app's, a batch's."""

    name: str
    image: str
    resources: ContainerResources
    env: NotRequired[Mapping[str, str]]
    gpus: NotRequired[int]
    gpu_node_selector: NotRequired[Mapping[str, str]]
    service_account: NotRequired[pulumi.Input[str]]


def scratch_space() -> tuple[list[k8s.core.v1.VolumeMountArgs], list[k8s.core.v1.VolumeArgs]]:
    """A small writable /tmp: the root filesystem is read-only."""
    return (
        [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))],
    )


def workload_container(
    spec: WorkloadSpec, *, mounts: list[k8s.core.v1.VolumeMountArgs], env_extra: list[k8s.core.v1.EnvVarArgs] | None = None, **more
) -> k8s.core.v1.ContainerArgs:
    """The workload's one container: restricted, bounded by requests and limits (GPUs included),
    its plain environment sorted, then ``env_extra``."""
    resources, gpus = spec["resources"], spec.get("gpus", 0)
    limits = {"cpu": resources["cpu_limit"], "memory": resources["memory_limit"]}
    requests = {"cpu": resources["cpu"], "memory": resources["memory"]}
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
        requests[GPU_RESOURCE] = str(gpus)
    env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(spec.get("env", {}).items())] + list(env_extra or [])
    return k8s.core.v1.ContainerArgs(
        name=spec["name"],
        image=spec["image"],
        # Tags are commit shas and never move, but Always keeps a re-pushed tag from being stale.
        image_pull_policy="Always",
        env=env or None,
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits),
        security_context=restricted_container(),
        volume_mounts=mounts,
        **more,
    )


def workload_pod(
    spec: WorkloadSpec, container: k8s.core.v1.ContainerArgs, volumes: list[k8s.core.v1.VolumeArgs], *, tolerate_spot: bool = False, **more
) -> k8s.core.v1.PodSpecArgs:
    """A pod that passes Pod Security ``restricted``, runs as the project's ServiceAccount without an
    API token and, with GPUs, tolerates the GPU pools' taints and selects their ComputeClass — so it, and nothing
    else, wakes the pool; with ``tolerate_spot``, it may also run on the tainted Spot pool."""
    gpus = spec.get("gpus", 0)
    return k8s.core.v1.PodSpecArgs(
        containers=[container],
        service_account_name=spec.get("service_account"),
        # Workload Identity goes through the GKE metadata server; no pod needs an API token.
        automount_service_account_token=False,
        security_context=restricted_pod(),
        volumes=volumes,
        node_selector=spec["gpu_node_selector"] if gpus else None,
        tolerations=[
            k8s.core.v1.TolerationArgs(key=GPU_TAINT_KEY, operator="Exists", effect="NoSchedule"),
            # GKE may add this one itself to a pod that selects the class; declared, the pod is
            # what the scheduler and the capacity model see either way.
            k8s.core.v1.TolerationArgs(key=COMPUTE_CLASS_KEY, operator="Equal", value=GPU_COMPUTE_CLASS, effect="NoSchedule"),
        ] if gpus else [
            k8s.core.v1.TolerationArgs(key=SPOT_TAINT_KEY, operator="Equal", value=SPOT_TAINT_VALUE, effect="NoSchedule")
        ] if tolerate_spot else None,
        **more,
    )


def tolerates_spot(spot: bool, replicas: int, gpus: int) -> bool:
    """Whether an app's pods may run on Spot nodes: it declares ``spot``, and has a replica to
    keep on on-demand capacity (two or more, spread); never a GPU app, whose pool is its own."""
    return spot and replicas >= 2 and not gpus


def _one_per_node() -> k8s.core.v1.AffinityArgs:
    return k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            required_during_scheduling_ignored_during_execution=[
                k8s.core.v1.PodAffinityTermArgs(
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={WHOLE_NODE_LABEL: "true"}),
                    topology_key="kubernetes.io/hostname",
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(),
                )
            ]
        )
    )


SKIP_AWAIT = "pulumi.com/skipAwait"
SECRETS_PATH = "/var/run/secrets/shoestring"
SECRETS_DRIVER = "secrets-store-gke.csi.k8s.io"
"""The CSI driver of GKE's Secret Manager add-on, which mounts secrets as in-memory files
(cloud.google.com/secret-manager/docs/secret-manager-managed-csi-component)."""


def _secret_provider_class(
    name: str, app: str, namespace: pulumi.Input[str], labels: Mapping[str, str], secrets: Mapping[str, str], child: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """The add-on's SecretProviderClass: each secret's latest version, at the file named for it."""
    # Serialized, never pasted: JSON is YAML, and no secret name can add a line to the list.
    listed = json.dumps([{"resourceName": f"{resource}/versions/latest", "path": file} for file, resource in sorted(secrets.items())])
    provider_class = k8s.apiextensions.CustomResource(
        f"{name}-secrets",
        api_version="secrets-store.csi.x-k8s.io/v1",
        kind="SecretProviderClass",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{app}-secrets", namespace=namespace, labels=labels),
        spec={"provider": "gke", "parameters": {"secrets": listed}},
        opts=child,
    )
    return provider_class
