"""Alert delivery as a dataset: saving alert requests sends them; loading gives what was delivered where.

A node that wants to tell people something returns alert requests
(:func:`sellout.integrations.alert_events.alert_request`); the catalog entry
(``catalog_publish.yml``) sends each one through the alert router of ``notifications.yml`` for the run's
environment, and writes ``{"run_id", "sent", "alerts": [{"kind", "channels": {name: delivered}}]}`` as JSON to
``filepath``. Delivery never fails the run: a channel that is down is logged and recorded as not delivered.
"""

from __future__ import annotations

from typing import Any

from sellout.config.project import ProjectConfig
from sellout.datasets.atomic import JsonRecordDataset
from sellout.integrations.alerting import AlertRouter


def alert_request(
    kind: str, run_context: dict[str, Any], summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a node hands to an alert dataset: the event kind, the run and what to say about it."""
    return {"kind": kind, "run_context": dict(run_context), "summary": dict(summary or {})}


class AlertDataset(JsonRecordDataset):
    def __init__(
        self,
        filepath: str,
        run_id: str,
        env: str = "local",
        project_path: str | None = None,
        router: AlertRouter | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """``router``: the routes to use instead of the environment's ``notifications.yml`` (tools, tests)."""
        super().__init__(filepath, metadata)
        self._run_id = str(run_id)
        self._env, self._project_path = env, project_path
        self._router = router

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "routes": f"conf/{{base,{self._env}}}/notifications.yml"}

    def router(self) -> AlertRouter:
        if self._router is None:
            project = ProjectConfig(self._env, self._project_path)
            self._router = AlertRouter(project.notifications, project.redactor)
        return self._router

    def _act(self, requests: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        requests = [requests] if isinstance(requests, dict) else list(requests)
        sent = []
        for request in requests:
            run_context = dict(request.get("run_context") or {})
            if run_context.get("dry_run"):
                channels: dict[str, bool] = {}  # a dry run tells nobody
            else:
                channels = self.router().send(
                    request["kind"],
                    run_id=run_context.get("run_id") or self._run_id,
                    summary=request.get("summary"),
                    run_context=run_context,
                )
            sent.append({"kind": request["kind"], "channels": channels})
        return {
            "run_id": self._run_id,
            "sent": any(any(a["channels"].values()) for a in sent),
            "alerts": sent,
        }
