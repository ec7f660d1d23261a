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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

from bastion.errors import BastionError
from bastion.watch.config import NotifierConfig
from bastion.watch.findings import Severity

log = logging.getLogger("bastion.respond.notifiers")
SIGNATURE_HEADER = "X-Bastion-Signature"
COLORS = {
    Severity.INFO: 0x95A5A6,
    Severity.LOW: 0x3498DB,
    Severity.MEDIUM: 0xF1C40F,
    Severity.HIGH: 0xE67E22,
    Severity.CRITICAL: 0xE74C3C,
}


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


class _Retry(Exception):
    pass


class Notifier:
    """Base: ``deliver`` once; ``send`` with retries."""

    def __init__(self, name: str, cfg: NotifierConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
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
            except _Retry as exc:
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
            raise _Retry(f"{type(exc).__name__} at {shown or _origin(url)}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Retry(f"HTTP {resp.status_code} from {shown or _origin(url)}")
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
                raise _Retry(f"SMTP {exc.smtp_code}") from None
            raise NotifyError(f"{self.name}: SMTP {exc.smtp_code} (not retried)") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Retry(f"{type(exc).__name__}") from None


KINDS: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "slack": SlackNotifier,
    "discord": DiscordNotifier,
    "telegram": TelegramNotifier,
    "email": EmailNotifier,
}


def build_notifier(name: str, cfg: NotifierConfig, **kw: Any) -> Notifier:
    return KINDS[cfg.type](name, cfg, **kw)
