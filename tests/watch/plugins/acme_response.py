"""A third party's action and notifier, loaded by the watchtower from ``[plugins] modules``
(tests/watch/test_plugin_actions.py). Written as a user would, against the public API only.

- ``acme_pause_all``: pause each of ``operations`` on ``target`` (``pause(bytes32)`` with
  ``keccak(name)``), one relayed transaction per operation, each at most once per incident;
- ``acme_pager``: POST ``{"summary", "severity", "incident"}`` to ``url`` with the routing key from the
  environment variable ``routing_key_env`` in a header; HTTP 5xx is retried.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import httpx
from eth_abi import encode
from eth_utils import keccak
from pydantic import Field

from bastion.respond.actions import ActionConfig, ActionContext, register_action
from bastion.respond.notifiers import Message, Notifier, NotifierSettings, NotifyError, Retry, register_notifier


class PauseAll(ActionConfig):
    type: Literal["acme_pause_all"]
    target: str
    operations: list[str] = Field(min_length=1)
    key: str = "guardian"


def pause_all(ctx: ActionContext, action: PauseAll, finding: Any, key: str) -> list[Any]:
    to = ctx.protocol.resolve(action.target)
    return [
        ctx.relayers[action.key].submit(
            f"{key}:{op}",
            to=to,
            data=keccak(text="pause(bytes32)")[:4] + encode(["bytes32"], [keccak(text=op)]),
            kind="acme_pause_all",
            payload={"operation": op},
            **ctx.common,
        )
        for op in action.operations
    ]


register_action(PauseAll, pause_all)


class PagerSettings(NotifierSettings):
    url: str
    routing_key_env: str


class Pager(Notifier):
    Config = PagerSettings

    def deliver(self, msg: Message) -> None:
        routing = os.environ.get(self.cfg.routing_key_env)
        if not routing:
            raise NotifyError(f"{self.name}: environment variable {self.cfg.routing_key_env} is not set")
        body = {"summary": msg.title, "severity": msg.severity.label, "incident": msg.incident_id}
        try:
            resp = httpx.post(self.cfg.url, json=body, headers={"X-Routing-Key": routing}, timeout=self.cfg.timeout_s)
        except httpx.HTTPError as exc:
            raise Retry(type(exc).__name__) from None
        if resp.status_code >= 500:
            raise Retry(f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise NotifyError(f"{self.name}: HTTP {resp.status_code}")


register_notifier("acme_pager", Pager)
