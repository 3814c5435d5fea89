"""Shoestring's Pulumi components: declarations only, no I/O and no pricing."""

from components.budget import MonthlyBudget, MonthlyBudgetArgs
from components.cluster import ZonalCluster, ZonalClusterArgs
from components.gpu_pool import GpuPool, GpuPoolArgs
from components.internal_service import AppSpec, InternalService, InternalServiceArgs
from components.network import ClusterNetwork, ClusterNetworkArgs
from components.node_pool import DefaultPool, DefaultPoolArgs
from components.project import Project, ProjectArgs, QuotaArgs
from components.spot_pool import SpotPool, SpotPoolArgs

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
