"""Notifiers: a generic signed webhook, Slack, Discord, Telegram and e-mail, with retries.

- Webhook: JSON body, header ``X-Bastion-Signature: sha256=<hex HMAC-SHA256 of the raw body>``
  (``verify_signature`` checks one); the secret comes from an environment variable.
- Slack (incoming webhook: ``text`` + ``blocks``), Discord (webhook: ``content`` + ``embeds``),
  Telegram (``sendMessage`` with HTML), e-mail over SMTP (``smtplib``, optional STARTTLS/login).
- Each send is retried with exponential backoff on connection errors, HTTP 5xx and 429; other 4xx
  fail at once. URLs carrying tokens (Telegram) are never logged or put in errors.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import os
import smtplib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.errors import BastionError
from bastion.store import Database, NotificationRow
from bastion.watch.config import ConfigError, WatchConfig, _shown, _validate
from bastion.watch.findings import Severity
from bastion.watch.metrics import Metrics

log = logging.getLogger("bastion.respond.notifiers")
SIGNATURE_HEADER = "X-Bastion-Signature"
COLORS = {
    Severity.INFO: 0x95A5A6,
    Severity.LOW: 0x3498DB,
    Severity.MEDIUM: 0xF1C40F,
    Severity.HIGH: 0xE67E22,
    Severity.CRITICAL: 0xE74C3C,
}


# -- schemas -------------------------------------------------------------------------------------
class NotifierSettings(BaseModel):
    """Base of every notifier's schema: what the outbox needs (severity floor, retries, timeouts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    min_severity: Severity = Severity.MEDIUM
    retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=0.5, gt=0)
    timeout_s: float = Field(default=5.0, gt=0)

    _severity = field_validator("min_severity", mode="before")(lambda cls, v: Severity.parse(v))


class NotifierConfig(NotifierSettings):
    """The built-in channels' schema."""

    type: Literal["webhook", "slack", "discord", "telegram", "email"]
    url: str | None = None
    secret_env: str | None = None  # webhook HMAC secret
    token_env: str | None = None  # telegram bot token
    chat_id: str | None = None
    api_base: str = "https://api.telegram.org"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    starttls: bool = True
    username_env: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list)

    @field_validator("url", "api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            hint = " (is its environment variable set?)" if "${" in value else ""
            raise ValueError(f"not an http(s) URL{hint} (got {_shown(value)})")
        return value

    @model_validator(mode="after")
    def _needs(self) -> NotifierConfig:
        need = {
            "webhook": ["url"],
            "slack": ["url"],
            "discord": ["url"],
            "telegram": ["token_env", "chat_id"],
            "email": ["smtp_host", "sender", "recipients"],
        }[self.type]
        for key in need:
            if not getattr(self, key):
                raise ValueError(f"a {self.type} notifier needs {key}")
        return self


class NotifyError(BastionError, RuntimeError):
    """A notification that could not be delivered after its retries."""


@dataclass(frozen=True)
class Message:
    title: str
    severity: Severity
    text: str
    incident_id: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "severity": self.severity.label,
            "text": self.text,
            "incident_id": self.incident_id,
            "fields": dict(self.fields),
        }


def sign_body(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign_body(secret, body), header or "")


class Retry(BastionError, RuntimeError):
    """Raised by ``deliver`` for a failure worth retrying (connection error, 5xx, 429)."""


class Notifier:
    """Base: ``deliver`` once; ``send`` with retries. ``Config`` is the schema of its config table."""

    Config: ClassVar[type[NotifierSettings]] = NotifierConfig

    def __init__(self, name: str, cfg: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.cfg = cfg
        self.sleep = sleep
        self.attempts = 0

    @property
    def min_severity(self) -> Severity:
        return self.cfg.min_severity

    def deliver(self, msg: Message) -> None:
        raise NotImplementedError

    def send(self, msg: Message) -> int:
        """Deliver ``msg``; the number of attempts it took. ``NotifyError`` when all failed."""
        last = ""
        for attempt in range(self.cfg.retries + 1):
            self.attempts = attempt + 1
            try:
                self.deliver(msg)
                return attempt + 1
            except Retry as exc:
                last = str(exc)
                if attempt < self.cfg.retries:
                    self.sleep(self.cfg.backoff_s * 2**attempt)
        raise NotifyError(f"{self.name}: not delivered after {self.cfg.retries + 1} attempts ({last})")


class _HttpNotifier(Notifier):
    def _post(self, url: str, body: bytes, headers: dict[str, str] | None = None, *, shown: str = "") -> None:
        try:
            resp = httpx.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", **(headers or {})},
                timeout=self.cfg.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise Retry(f"{type(exc).__name__} at {shown or _origin(url)}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise Retry(f"HTTP {resp.status_code} from {shown or _origin(url)}")
        if resp.status_code >= 400:
            raise NotifyError(f"{self.name}: HTTP {resp.status_code} from {shown or _origin(url)} (not retried)")


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")


class WebhookNotifier(_HttpNotifier):
    def deliver(self, msg: Message) -> None:
        body = json.dumps(msg.as_json(), sort_keys=True, separators=(",", ":")).encode()
        headers = {}
        if self.cfg.secret_env:
            secret = os.environ.get(self.cfg.secret_env)
            if not secret:
                raise NotifyError(f"{self.name}: environment variable {self.cfg.secret_env} is not set")
            headers[SIGNATURE_HEADER] = sign_body(secret.encode(), body)
        self._post(self.cfg.url, body, headers)


class SlackNotifier(_HttpNotifier):
    @staticmethod
    def payload(msg: Message) -> dict[str, Any]:
        facts = "\n".join(f"*{k}*: `{v}`" for k, v in msg.fields.items())
        return {
            "text": f"[{msg.severity.label.upper()}] {msg.title}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": msg.title[:150]}},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"*{msg.severity.label.upper()}* {msg.text}"},
                },
                *([{"type": "section", "text": {"type": "mrkdwn", "text": facts}}] if facts else []),
            ],
        }

    def deliver(self, msg: Message) -> None:
        self._post(self.cfg.url, json.dumps(self.payload(msg)).encode())


class DiscordNotifier(_HttpNotifier):
    @staticmethod
    def payload(msg: Message) -> dict[str, Any]:
        return {
            "content": f"[{msg.severity.label.upper()}] {msg.title}"[:2000],
            "embeds": [
                {
                    "title": msg.title[:256],
                    "description": msg.text[:4000],
                    "color": COLORS[msg.severity],
                    "fields": [
                        {"name": str(k)[:256], "value": str(v)[:1024], "inline": True}
                        for k, v in list(msg.fields.items())[:25]
                    ],
                }
            ],
        }

    def deliver(self, msg: Message) -> None:
        self._post(self.cfg.url, json.dumps(self.payload(msg)).encode())


class TelegramNotifier(_HttpNotifier):
    @staticmethod
    def payload(chat_id: str, msg: Message) -> dict[str, Any]:
        lines = [f"<b>[{msg.severity.label.upper()}] {html.escape(msg.title)}</b>", html.escape(msg.text)]
        lines += [f"<b>{html.escape(str(k))}</b>: <code>{html.escape(str(v))}</code>" for k, v in msg.fields.items()]
        return {
            "chat_id": chat_id,
            "text": "\n".join(lines)[:4096],
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }

    def deliver(self, msg: Message) -> None:
        token = os.environ.get(self.cfg.token_env or "")
        if not token:
            raise NotifyError(f"{self.name}: environment variable {self.cfg.token_env} is not set")
        url = f"{self.cfg.api_base.rstrip('/')}/bot{token}/sendMessage"
        self._post(url, json.dumps(self.payload(self.cfg.chat_id or "", msg)).encode(), shown="telegram api")


class EmailNotifier(Notifier):
    def build(self, msg: Message) -> EmailMessage:
        em = EmailMessage()
        em["Subject"] = f"[Bastion {msg.severity.label.upper()}] {msg.title}"
        em["From"] = self.cfg.sender
        em["To"] = ", ".join(self.cfg.recipients)
        facts = "\n".join(f"{k}: {v}" for k, v in msg.fields.items())
        em.set_content(f"{msg.text}\n\n{facts}\n")
        return em

    def deliver(self, msg: Message) -> None:
        try:
            with smtplib.SMTP(self.cfg.smtp_host, self.cfg.smtp_port, timeout=self.cfg.timeout_s) as smtp:
                if self.cfg.starttls:
                    smtp.starttls()
                if self.cfg.username_env:
                    smtp.login(
                        os.environ.get(self.cfg.username_env, ""),
                        os.environ.get(self.cfg.password_env or "", ""),
                    )
                smtp.send_message(self.build(msg))
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise Retry(f"SMTP {exc.smtp_code}") from None
            raise NotifyError(f"{self.name}: SMTP {exc.smtp_code} (not retried)") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Retry(f"{type(exc).__name__}") from None


NOTIFIERS: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "slack": SlackNotifier,
    "discord": DiscordNotifier,
    "telegram": TelegramNotifier,
    "email": EmailNotifier,
}
"""Notifier classes by their config ``type``; plug-ins add theirs with ``register_notifier``."""


def register_notifier(kind: str, cls: type[Notifier]) -> type[Notifier]:
    """Make ``type = kind`` in a ``[notifiers.<name>]`` table build ``cls`` (its ``Config``, a
    ``NotifierSettings`` subclass, is the table's schema; ``deliver`` raises ``NotifyError`` to fail or
    ``Retry`` to be retried)."""
    known = NOTIFIERS.get(kind)
    if known is not None and known is not cls:
        raise ValueError(f"notifier type {kind!r} is registered already (by {known.__module__})")
    if not (isinstance(cls, type) and issubclass(cls, Notifier)):
        raise TypeError(f"{cls!r} is not a Notifier class")
    NOTIFIERS[kind] = cls
    return cls


def check_notifiers(cfg: WatchConfig) -> dict[str, NotifierSettings]:
    """Every ``[notifiers.<name>]`` table, typed by its type's schema; one-line ``ConfigError``."""
    out: dict[str, NotifierSettings] = {}
    for name, raw in cfg.notifiers.items():
        kind = raw.get("type")
        if kind not in NOTIFIERS:
            raise ConfigError(
                f"config error: notifiers.{name}.type: must be one of {', '.join(NOTIFIERS)} (got {_shown(kind)}; "
                "a plug-in's type needs its module in plugins.modules)"
            )
        out[name] = _validate(NOTIFIERS[kind].Config, raw, ("notifiers", name))
    return out


def build_notifier(name: str, cfg: NotifierSettings, **kw: Any) -> Notifier:
    return NOTIFIERS[cfg.type](name, cfg, **kw)


# -- the durable outbox ------------------------------------------------------------------------
def message_from_json(data: Mapping[str, Any]) -> Message:
    return Message(
        title=data["title"],
        severity=Severity.parse(data["severity"]),
        text=data["text"],
        incident_id=data.get("incident_id"),
        fields=dict(data.get("fields") or {}),
    )


class Outbox:
    """Notifications leave the watch loop: ``enqueue`` records a message in the store (in the
    caller's transaction), one worker thread per channel delivers it, one try at a time, retrying
    with exponential backoff until ``retries`` is spent. A slow or failing channel delays only
    itself; a restart delivers whatever is still queued."""

    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        metrics: Metrics | None = None,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.notifiers = dict(notifiers)
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self._wakes = {name: threading.Event() for name in self.notifiers}
        # One try of a channel at a time in this process: the worker and a caller's drain() never both
        # deliver the same queued row (across processes only the lease holder runs workers).
        self._locks = {name: threading.Lock() for name in self.notifiers}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def enqueue(self, s: Session, key: str, channel: str, msg: Message, *, dry_run: bool = False) -> NotificationRow:
        """Record ``msg`` for ``channel``: queued for the worker, or (``dry_run``) only recorded, never sent."""
        notifier = self.notifiers[channel]
        row = NotificationRow(
            idempotency_key=key,
            incident_id=msg.incident_id,
            channel=channel,
            kind=notifier.cfg.type,
            status="dry_run" if dry_run else "queued",
            attempts=0,
            created_at=self.clock(),
            message=msg.as_json(),
            next_at=None if dry_run else self.clock(),
        )
        s.add(row)
        return row

    def poke(self, channel: str) -> None:
        """A message for ``channel`` was committed: its worker looks now rather than at the next round."""
        if channel in self._wakes:
            self._wakes[channel].set()

    def queued(self, channel: str | None = None) -> int:
        with self.db.session() as s:
            q = select(func.count()).select_from(NotificationRow).where(NotificationRow.status == "queued")
            if channel is not None:
                q = q.where(NotificationRow.channel == channel)
            return int(s.execute(q).scalar() or 0)

    def drain(self, channel: str | None = None) -> int:
        """One delivery try for every due message (of ``channel``); how many were delivered."""
        now = self.clock()
        with self.db.session() as s:
            q = select(NotificationRow.id).where(NotificationRow.status == "queued", NotificationRow.next_at <= now)
            if channel is not None:
                q = q.where(NotificationRow.channel == channel)
            due = list(s.scalars(q.order_by(NotificationRow.id)))
        return sum(1 for row_id in due if self._try(row_id))

    def _try(self, row_id: int) -> bool:
        with self.db.session() as s:
            channel = s.get(NotificationRow, row_id).channel
        lock = self._locks.get(channel)
        if lock is None:  # the channel left the config: keep the row for when it comes back
            return False
        with lock:
            return self._try_locked(row_id)

    def _try_locked(self, row_id: int) -> bool:
        with self.db.session() as s:
            row = s.get(NotificationRow, row_id)
            if row.status != "queued":  # delivered or given up meanwhile
                return False
            channel, data, attempts = row.channel, dict(row.message or {}), row.attempts or 0
        notifier = self.notifiers.get(channel)
        if notifier is None:  # the channel left the config: keep the row for when it comes back
            return False
        error: str | None = None
        retry = False
        try:
            notifier.deliver(message_from_json(data))
        except Retry as exc:
            error, retry = str(exc), True
        except NotifyError as exc:
            error = str(exc)
        except Exception as exc:  # a broken channel must not end its worker
            error, retry = f"{type(exc).__name__}: {exc}", True
        attempts += 1
        now = self.clock()
        if error is None:
            status = "sent"
        elif retry and attempts <= notifier.cfg.retries:
            status = "queued"
        else:
            status = "failed"
        with self.db.transaction() as s:
            row = s.get(NotificationRow, row_id)
            row.status, row.attempts, row.last_error = status, attempts, error
            row.sent_at = now if status == "sent" else None
            row.next_at = now + notifier.cfg.backoff_s * 2 ** (attempts - 1) if status == "queued" else None
        if self.metrics and status != "queued":
            self.metrics.notifications.labels(channel, status).inc()
        # An operator must hear that an alert did not go out: the text names the channel and the reason.
        log.log(
            logging.INFO if status == "sent" else logging.WARNING,
            "notification" if status == "sent" else f"notification to {channel} {status}: {error}",
            extra={"event": "notification", "channel": channel, "status": status, "attempts": attempts, "error": error},
        )
        return status == "sent"

    # -- the workers -----------------------------------------------------------------------------
    def start(self) -> Outbox:
        if self._threads:
            return self
        self._stop.clear()
        for name in self.notifiers:
            t = threading.Thread(target=self._run, args=(name,), name=f"outbox-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self, channel: str) -> None:
        wake = self._wakes[channel]
        while not self._stop.is_set():
            wake.clear()
            try:
                self.drain(channel)
            except Exception as exc:  # the database away: try again on the next round
                log.error(
                    "outbox drain failed",
                    extra={"event": "outbox_error", "channel": channel, "error": f"{type(exc).__name__}: {exc}"[:300]},
                )
                self._stop.wait(1.0)
            wake.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for wake in self._wakes.values():
            wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
