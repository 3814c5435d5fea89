"""Shoestring's Pulumi components: declarations only, no I/O and no pricing."""

from program.components.budget import MonthlyBudget, MonthlyBudgetArgs
from program.components.cluster import ZonalCluster, ZonalClusterArgs
from program.components.gpu_pool import GpuPool, GpuPoolArgs
from program.components.internal_service import AppSpec, InternalService, InternalServiceArgs
from program.components.network import ClusterNetwork, ClusterNetworkArgs
from program.components.node_pool import DefaultPool, DefaultPoolArgs
from program.components.project import Project, ProjectArgs, QuotaArgs
from program.components.spot_pool import SpotPool, SpotPoolArgs

__all__ = [
    "AppSpec",
    "ClusterNetwork",
    "ClusterNetworkArgs",
    "DefaultPool",
    "DefaultPoolArgs",
    "GpuPool",
    "GpuPoolArgs",
    "InternalService",
    "InternalServiceArgs",
    "MonthlyBudget",
    "MonthlyBudgetArgs",
    "Project",
    "ProjectArgs",
    "QuotaArgs",
    "SpotPool",
    "SpotPoolArgs",
    "ZonalCluster",
    "ZonalClusterArgs",
]
