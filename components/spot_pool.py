"""SpotPool: CPU capacity on Spot VMs, beside the on-demand default pool."""

from __future__ import annotations

import pulumi

from components.node_pool import DefaultPoolArgs, cpu_pool

SpotPoolArgs = DefaultPoolArgs
"""As the default pool's, without ``spot`` (always on) and with ``min_nodes`` defaulting to 0."""


class SpotPool(pulumi.ComponentResource):
    """An autoscaled pool of Spot VMs (60-91% below on-demand, preemptible at any time).

    Its nodes carry ``shoestring.dev/capacity: spot`` and the default pool's ``on-demand``; apps
    with two or more replicas spread across the two (``InternalService``), so a preemption of
    every Spot node at once leaves each app a replica on on-demand capacity.
    """

    name: pulumi.Output[str]

    def __init__(self, name: str, args: SpotPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:SpotPool", name, None, opts)
        pool = cpu_pool(name, {"min_nodes": 0, **args}, pool_label="spot", spot=True, parent=self)
        self.name = pool.name
        self.register_outputs({"name": self.name})
