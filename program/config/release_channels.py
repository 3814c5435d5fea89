"""The Kubernetes minor versions each GKE release channel offers: `kubernetesVersion` names the
version the manifests are validated against, and GKE accepts only versions of the cluster's channel,
so a version outside it validates manifests for a cluster that cannot exist.

As read from GKE's release notes, "Current versions" table, "Available minor versions" row
(https://cloud.google.com/kubernetes-engine/docs/release-notes; the channels' rules:
https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels). GKE moves these every few
weeks: when a channel's range moves, update it here."""

from __future__ import annotations

from typing import Any

from program.config.model import StackConfig

AVAILABLE_MINOR_VERSIONS = {"RAPID": (34, 37), "REGULAR": (34, 36), "STABLE": (34, 35)}
"""Per channel, the lowest and highest 1.<minor> it offers."""


def release_channel_problems(cfg: StackConfig) -> list[tuple[str, Any, str]]:
    """`kubernetesVersion` against the release channel of the cluster this stack's apps run in."""
    channel = cfg.cluster_owner.release_channel
    low, high = AVAILABLE_MINOR_VERSIONS[channel]
    minor = int(cfg.kubernetes_version.split(".")[1])
    if low <= minor <= high:
        return []
    whose = "this stack's" if cfg.owns_cluster else f"{cfg.cluster_owner.stack}'s"
    return [(
        "kubernetesVersion", cfg.kubernetes_version,
        f"the {channel} release channel of {whose} cluster offers 1.{low} to 1.{high} (GKE release notes, "
        f"program/config/release_channels.py); set kubernetesVersion to one of them, e.g. '1.{high}'",
    )]
