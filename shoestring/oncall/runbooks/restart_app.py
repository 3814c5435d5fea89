"""`on-call restart-app`: restart an app's pods by a rolling restart of its Deployment."""

from __future__ import annotations

from datetime import UTC, datetime

from shoestring.oncall.runbook import runbook
from shoestring.oncall.session import Session


@runbook(1)
def restart_app(session: Session) -> None:
    """Restart the app's pods one by one, as `kubectl rollout restart` does: the same annotation on
    its pod template, so `pulumi up` sees no drift in anything it declared."""
    target = session.target

    def restart() -> None:
        stamp = datetime.now(UTC).isoformat()
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        session.call(session.kube.apps.patch_namespaced_deployment, target.app.name, target.namespace, patch)
        session.ok(f"restarting {target.namespace}/{target.app.name}: its pods are replaced one by one")

    session.step("Rolling restart", restart, changes=True)
