"""Shoestring's Pulumi components: declarations only, no I/O and no pricing."""

from components.cluster import ZonalCluster, ZonalClusterArgs
from components.gpu_pool import GpuPool, GpuPoolArgs
from components.node_pool import DefaultPool, DefaultPoolArgs

__all__ = ["DefaultPool", "DefaultPoolArgs", "GpuPool", "GpuPoolArgs", "ZonalCluster", "ZonalClusterArgs"]
