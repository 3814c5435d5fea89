"""Public routes: which hosts a stack's apps take through the cluster's one public entry, and the
rules on them (valid DNS names, one owner per host, an entry that can serve them)."""

from __future__ import annotations

import re
from typing import Any


from program.config.model import ProjectInstance, StackConfig


DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
INTERNAL_SUFFIXES = {
    "internal": "reserved for private networks (ICANN, 2024), where Google's metadata server is metadata.google.internal",
    "local": "multicast DNS on a local link (RFC 6762)",
    "localhost": "this machine (RFC 6761)",
    "invalid": "never a real name (RFC 6761)",
    "home.arpa": "a home network (RFC 8375)",
    "cluster.local": "a Kubernetes cluster's own Services",
    "goog": "Google's own names (e.g. <project>.svc.id.goog, Workload Identity)",
}
"""Domains no public host may be under: the public entry's certificate, route or tunnel would
answer for a name that resolves inside a network, or to the metadata server, not on the internet."""


def internal_name(host: str) -> str | None:
    """Why ``host`` is not a public name, or None."""
    return next((why for suffix, why in INTERNAL_SUFFIXES.items() if host == suffix or host.endswith("." + suffix)), None)


def public_routes(deployed: tuple[ProjectInstance, ...]) -> list[tuple[str, str, str]]:
    """(host, path, "namespace/app") for every public app, in declaration order."""
    return [
        (host, app.public.path, f"{instance.namespace}/{app.name}")
        for instance in deployed
        for app in instance.apps
        if app.public is not None
        for host in app.public.hosts
    ]


def entry_problems(cfg: StackConfig, deployed: tuple[ProjectInstance, ...], has_tunnel_credentials: bool) -> list:
    problems: list[tuple[str, Any, str]] = []
    routes = public_routes(deployed)
    entry = cfg.cluster_owner.public_entry
    for host, _, app in routes:
        if not DNS_NAME.fullmatch(host):
            problems.append(("projects", host, f"{app}'s public host is not a valid DNS name: lowercase letters, digits, '-' and dots, e.g. blog.example.com"))
        elif internal_name(host):
            problems.append(("projects", host, f"{app}'s public host is not a public name: its domain is {internal_name(host)}; give a name of a domain you own, e.g. blog.example.com"))
    claimed: dict[tuple[str, str], str] = {}
    if cfg.host is not None:  # the host stack's apps answer on the same shared entry
        claimed = {(host, path): f"{app} ({cfg.host.stack})" for host, path, app in public_routes(cfg.host.deployed)}
    for host, path, app in routes:
        other = claimed.setdefault((host, path), app)
        if other != app:
            problems.append(("projects", f"{host}{path}", f"is claimed by both {other} and {app}; give one of them another host or path"))
    # A host belongs to the first namespace that routes it: another project may not take a path
    # of it (blog.example.com/admin under the blog's blog.example.com).
    hosts: dict[str, tuple[str, str]] = {}
    for host, path, app in [*(public_routes(cfg.host.deployed) if cfg.host is not None else []), *routes]:
        owner, owner_path = hosts.setdefault(host, (app, path))
        if owner.split("/")[0] != app.split("/")[0] and path != owner_path:
            problems.append(("projects", f"{host}{path}", f"is under {host}, which {owner} serves: a project may not route paths of another's host; give {app} a host of its own"))
    if routes and not cfg.owns_cluster and entry == "tunnel":
        problems.append(
            ("hostStack", cfg.host_stack, f"{cfg.cluster_owner.stack}'s cluster uses a tunnel, whose routes only that stack declares; "
             "make this stack's apps private (hosts: []) or give the cluster a gateway")
        )
    if cfg.owns_cluster and entry == "tunnel":
        if cfg.tunnel_id is None:
            problems.append(("tunnelId", None, "publicEntry: tunnel needs the tunnel's ID: `pulumi config set tunnelId <uuid>`"))
        if not has_tunnel_credentials:
            problems.append(
                ("tunnelCredentials", None, "publicEntry: tunnel needs the tunnel's credentials file as a secret: "
                 "`pulumi config set --secret tunnelCredentials \"$(cat <tunnel-id>.json)\"`")
            )
    return problems
