"""A multi-endpoint JSON-RPC client over httpx: keep-alive, failover, backoff, health and metrics.

Endpoints are tried in the configured order, skipping those cooling down after a failure. A
transport error, a timeout, an HTTP error status or a malformed answer counts against the
endpoint (exponential cool-down) and the call moves to the next one; when every endpoint failed
the call waits (exponential backoff) and retries, and after ``max_rounds`` it raises
``RpcUnavailable`` (or ``RpcMalformed`` when the answers were junk). An error *object* in a
well-formed answer (method not found, execution reverted) is the node's answer, not the
endpoint's failure: it raises ``RpcCallError`` at once. Nothing ever waits without a timeout.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bastion.errors import BastionError


class RpcMetrics(Protocol):
    """What the client records into (the watchtower's Prometheus metrics provide both)."""

    rpc_latency: Any  # histogram labelled (endpoint, method)
    rpc_calls: Any  # counter labelled (endpoint, method, outcome)


log = logging.getLogger("bastion.chain.rpc")


class RpcError(BastionError, RuntimeError):
    """Base class of every JSON-RPC client error."""


class RpcCallError(RpcError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class RpcMalformed(RpcError):
    """An answer that is not valid JSON-RPC, or whose result has the wrong shape."""


class RpcUnavailable(RpcError):
    """No endpoint gave an answer within the retry budget."""


def _redact(url: str) -> str:
    """An endpoint's URL without its path and query (they often carry an API key)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


@dataclass
class Endpoint:
    url: str
    name: str
    failures: int = 0  # consecutive
    cooldown_until: float = 0.0
    calls: int = 0
    errors: int = 0
    latency_ewma: float | None = None
    last_error: str | None = None

    def healthy(self, now: float) -> bool:
        return now >= self.cooldown_until

    def status(self) -> dict[str, Any]:
        return {
            "endpoint": self.name,
            "healthy": self.healthy(time.monotonic()),
            "consecutive_failures": self.failures,
            "calls": self.calls,
            "errors": self.errors,
            "latency_ms": None if self.latency_ewma is None else round(self.latency_ewma * 1000, 2),
            "last_error": self.last_error,
        }


@dataclass
class RpcClient:
    """JSON-RPC over HTTP to one or more endpoints of the same chain."""

    urls: Sequence[str]
    timeout: float = 5.0
    max_rounds: int = 3
    backoff_base: float = 0.05
    backoff_max: float = 2.0
    cooldown_base: float = 0.5
    cooldown_max: float = 30.0
    metrics: RpcMetrics | None = None
    endpoints: list[Endpoint] = field(init=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("RpcClient needs at least one endpoint URL")
        self.endpoints = [Endpoint(u, _redact(u)) for u in self.urls]
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
            headers={"Content-Type": "application/json"},
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; the ``result`` of the answer."""
        out = self.batch([(method, list(params))])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request. Each item of the returned list is the call's result,
        or an ``RpcCallError`` / ``RpcMalformed`` instance for a call that failed on its own."""
        with self._lock:
            ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
        body = json.dumps(payload[0] if len(payload) == 1 else payload).encode()
        label = calls[0][0] if len(calls) == 1 else "batch"
        last: Exception | None = None
        malformed_only = True
        for attempt in range(self.max_rounds):
            for ep in self._order():
                try:
                    answer = self._post(ep, body, label)
                    return self._unpack(answer, ids, calls)
                except RpcMalformed as exc:
                    self._fail(ep, exc, label)
                    last = exc
                except (httpx.HTTPError, OSError) as exc:
                    self._fail(ep, exc, label)
                    last = exc
                    malformed_only = False
            if attempt + 1 < self.max_rounds:
                time.sleep(min(self.backoff_max, self.backoff_base * 2**attempt))
        if malformed_only and isinstance(last, RpcMalformed):
            raise RpcMalformed(f"{label}: every endpoint answered junk ({last})")
        raise RpcUnavailable(f"{label}: no endpoint answered after {self.max_rounds} rounds ({last})")

    def health(self) -> list[dict[str, Any]]:
        return [ep.status() for ep in self.endpoints]

    def probe_heads(self) -> dict[str, int | None]:
        """``eth_blockNumber`` from every endpoint on its own (None where it failed or answered
        junk); a failure counts against the endpoint as in any call."""
        out: dict[str, int | None] = {}
        for ep in self.endpoints:
            with self._lock:
                i = next(self._ids)
            body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []}).encode()
            try:
                (result,) = self._unpack(self._post(ep, body, "eth_blockNumber"), [i], [("eth_blockNumber", [])])
                out[ep.name] = int(result, 16) if isinstance(result, str) else None
            except (RpcMalformed, httpx.HTTPError, OSError, ValueError) as exc:
                self._fail(ep, exc, "eth_blockNumber")
                out[ep.name] = None
        return out

    def demote(self, name: str, reason: str, cooldown: float) -> None:
        """Put endpoint ``name`` last for ``cooldown`` seconds (a head that stopped or lags): it
        answers, but its answers are old."""
        for ep in self.endpoints:
            if ep.name == name:
                ep.cooldown_until = max(ep.cooldown_until, time.monotonic() + cooldown)
                ep.last_error = reason

    # -- internals ---------------------------------------------------------------------------------
    def _order(self) -> list[Endpoint]:
        """Healthy endpoints in configured order, then cooling ones (soonest first) as a last resort."""
        now = time.monotonic()
        healthy = [e for e in self.endpoints if e.healthy(now)]
        cooling = sorted((e for e in self.endpoints if not e.healthy(now)), key=lambda e: e.cooldown_until)
        return healthy + cooling

    def _post(self, ep: Endpoint, body: bytes, label: str) -> Any:
        start = time.perf_counter()
        ep.calls += 1
        resp = self._http.post(ep.url, content=body)
        elapsed = time.perf_counter() - start
        if resp.status_code >= 400:
            raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
        try:
            answer = json.loads(resp.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RpcMalformed(f"{ep.name} answered {label} with non-JSON ({resp.content[:60]!r})") from None
        ep.failures = 0
        ep.cooldown_until = 0.0
        ep.latency_ewma = elapsed if ep.latency_ewma is None else 0.8 * ep.latency_ewma + 0.2 * elapsed
        if self.metrics:
            self.metrics.rpc_latency.labels(ep.name, label).observe(elapsed)
            self.metrics.rpc_calls.labels(ep.name, label, "ok").inc()
        return answer

    def _fail(self, ep: Endpoint, exc: Exception, label: str) -> None:
        ep.failures += 1
        ep.errors += 1
        ep.last_error = f"{type(exc).__name__}: {exc}"[:200]
        ep.cooldown_until = time.monotonic() + min(self.cooldown_max, self.cooldown_base * 2 ** (ep.failures - 1))
        if self.metrics:
            self.metrics.rpc_calls.labels(ep.name, label, type(exc).__name__).inc()
        log.warning(
            "rpc endpoint failed",
            extra={"event": "rpc_failure", "endpoint": ep.name, "method": label, "error": ep.last_error},
        )

    @staticmethod
    def _unpack(answer: Any, ids: list[int], calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        items = answer if isinstance(answer, list) else [answer]
        by_id: dict[Any, Any] = {}
        for item in items:
            if not isinstance(item, dict) or "id" not in item:
                raise RpcMalformed(f"answer item is not a JSON-RPC response: {str(item)[:80]}")
            by_id[item["id"]] = item
        out: list[Any] = []
        for i, (method, _) in zip(ids, calls, strict=True):
            item = by_id.get(i)
            if item is None:
                raise RpcMalformed(f"answer has no response for {method} (id {i})")
            if "error" in item and item["error"] is not None:
                err = item["error"]
                if not isinstance(err, dict):
                    out.append(RpcMalformed(f"{method}: error field is not an object"))
                    continue
                out.append(RpcCallError(method, err.get("code"), str(err.get("message", "")), err.get("data")))
            elif "result" in item:
                out.append(item["result"])
            else:
                raise RpcMalformed(f"{method}: response has neither result nor error")
        return out
