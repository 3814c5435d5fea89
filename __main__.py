"""Shoestring: one zonal GKE cluster, a default pool and a scale-to-zero GPU pool per stack."""

import pulumi

from components import DefaultPool, GpuPool, ZonalCluster
from shoestring import config

cfg = config.from_pulumi()

cluster = ZonalCluster(
    f"shoestring-{cfg.stack}",
    {
        "project": cfg.gcp_project,
        "zone": cfg.zone,
        "release_channel": cfg.release_channel,
        "deletion_protection": cfg.deletion_protection,
    },
    opts=pulumi.ResourceOptions(protect=cfg.deletion_protection),
)
pool = cfg.default_pool
DefaultPool(
    "default-pool",
    {
        "cluster": cluster.name,
        "project": cfg.gcp_project,
        "zone": cfg.zone,
        "service_account": cluster.node_service_account,
        "machine_type": pool.machine_type,
        "min_nodes": pool.min_nodes,
        "max_nodes": pool.max_nodes,
        "disk_type": pool.disk_type,
        "disk_size_gb": pool.disk_size_gb,
        "spot": pool.spot,
    },
)
if (gpu := cfg.gpu_pool) is not None:
    GpuPool(
        "gpu-pool",
        {
            "cluster": cluster.name,
            "project": cfg.gcp_project,
            "zone": cfg.zone,
            "node_zone": cfg.gpu_zone,
            "service_account": cluster.node_service_account,
            "accelerator": gpu.accelerator,
            "accelerator_count": gpu.accelerator_count,
            "driver_version": gpu.driver_version,
            "machine_type": gpu.machine_type,
            "min_nodes": gpu.min_nodes,
            "max_nodes": gpu.max_nodes,
            "spot": gpu.spot,
            "disk_type": gpu.disk_type,
            "disk_size_gb": gpu.disk_size_gb,
        },
    )

pulumi.export("cluster_name", cluster.name)
pulumi.export("zone", cfg.zone)
pulumi.export("kubeconfig", cluster.kubeconfig)
