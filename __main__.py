"""Shoestring: one zonal GKE cluster per billing account, and every project a namespace in it."""

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from program.components import ClusterNetwork, DefaultPool, GpuPool, MonthlyBudget, Project, SpotPool, ZonalCluster
from program.components.compute_class import GpuComputeClass
from program.components.cluster_dns import ClusterDns
from program.components.pod_security import LockedDefaultNamespace
from program.components.priority import PriorityClasses
from program.components.project_apis import ProjectApis
from program.components.scheduling import ClusterCapacity
from program.components.public_entry import GatewayEntry, HostCertificates, TunnelEntry
from program import apis, config, cost, program_args
from program.records import Recorder

cfg = config.from_pulumi()
recorder = Recorder()
recorder.start()
for notice in cfg.notices:
    pulumi.log.warn(notice)
# Every GCP resource declared from here on waits, in the SDK, for the Service enabling each API
# it is created through (program/apis.py says why a transformation, not a transform).
project_apis = ProjectApis("apis", program_args.project_apis(cfg))
pulumi.runtime.register_stack_transformation(apis.wait_for_apis(project_apis.services))

if cfg.owns_cluster:
    network = ClusterNetwork(f"shoestring-{cfg.stack}", program_args.network(cfg))
    cluster = ZonalCluster(
        f"shoestring-{cfg.stack}",
        program_args.cluster(cfg, network),
        opts=pulumi.ResourceOptions(protect=cfg.deletion_protection),
    )
    pools: dict[str, pulumi.Resource] = {"default": DefaultPool("default-pool", program_args.default_pool(cfg, cluster))}
    # Kubernetes' own `default` namespace, used by no project: restricted, default-deny, no token.
    LockedDefaultNamespace("default-namespace", pulumi.ResourceOptions(provider=cluster.provider))
    if cfg.dns.provider == "cloud-dns":
        ClusterDns("cluster-dns", {"queries_per_second": cfg.dns.queries_per_second}, pulumi.ResourceOptions(provider=cluster.provider))
    if cfg.spot_pool is not None:
        pools["spot"] = SpotPool("spot-pool", program_args.spot_pool(cfg, cluster))
    provider, workload_identity_pool = cluster.provider, cluster.workload_identity_pool
    if cfg.gpu_pool is not None:
        pools["gpu"] = GpuPool("gpu-pool", program_args.gpu_pool(cfg, cluster))
        GpuComputeClass("gpu-compute-class", program_args.gpu_compute_class(pools["gpu"]), pulumi.ResourceOptions(provider=provider))
    # What each workload's pods need before they can be admitted and placed (components/scheduling.py).
    room: ClusterCapacity | None = {
        "priority_classes": PriorityClasses("priority-classes", pulumi.ResourceOptions(provider=provider)).classes,
        "pools": pools,
    }
    pulumi.export("cluster_name", cluster.name)
    pulumi.export("zone", cfg.zone)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    if cfg.public_entry == "gateway":
        gateway = GatewayEntry("public-entry", {"project": cfg.gcp_project, "stack": cfg.stack}, pulumi.ResourceOptions(provider=provider))
        public_ip, certificate_map = gateway.address, gateway.certificate_map
    elif cfg.public_entry == "tunnel":
        TunnelEntry("public-entry", program_args.tunnel(cfg, room), pulumi.ResourceOptions(provider=provider))
else:
    # No cluster of its own: this stack's projects become namespaces in the host stack's cluster.
    host = pulumi.StackReference(program_args.host_stack_reference(cfg))
    provider = k8s.Provider("host-cluster", kubeconfig=host.require_output("kubeconfig"))
    workload_identity_pool = program_args.workload_identity_pool(cfg)
    room = None  # the host's PriorityClasses and pools exist already
    # The host's Gateway and certificate map exist already: prod is deployed first.
    public_ip, certificate_map = host.get_output("public_ip"), program_args.certificate_map_name(cfg)
    pulumi.export("host_stack", host.name)

if program_args.public_hosts(cfg):
    if cfg.cluster_owner.public_entry == "gateway":
        HostCertificates(f"{cfg.stack}-certificates", program_args.host_certificates(cfg, certificate_map))
        pulumi.export("public_ip", public_ip)
        pulumi.export("dns_records", [{"name": host, "type": "A", "value": public_ip} for host in program_args.public_hosts(cfg)])
    else:
        target = f"{cfg.tunnel_id}.cfargotunnel.com"
        pulumi.export("dns_records", [{"name": host, "type": "CNAME", "value": target} for host in program_args.public_hosts(cfg)])

services = {}
for deployed in cfg.deployed:
    project = Project(deployed.namespace, program_args.project(cfg, deployed, workload_identity_pool, room), opts=pulumi.ResourceOptions(provider=provider))
    services |= {f"{deployed.namespace}/{app}": dns for app, dns in project.service_dns_names.items()}
pulumi.export("services", services)

# The Cloud Billing budget counts the GCP project's whole bill, which it names by number.
project_number = gcp.organizations.get_project_output(project_id=cfg.gcp_project).number if program_args.cloud_billing_budget(cfg) else None
MonthlyBudget(f"{cfg.stack}-budget", program_args.budget(cfg, project_number))
# The estimate of exactly what the engine was asked to register, priced as `make cost` prices it.
pulumi.export("cost", recorder.when_complete(lambda records: cost.stack_output(cfg.stack, records, pulumi.log.warn)))
