"""Notifiers against real local receivers: HTTP on 127.0.0.1 and a minimal SMTP sink."""

from __future__ import annotations

import email
from dataclasses import replace

import pytest

from bastion.respond.notifiers import (
    SIGNATURE_HEADER,
    Message,
    NotifierConfig,
    NotifyError,
    build_notifier,
    verify_signature,
)
from bastion.respond.playbooks import NotifierHub
from bastion.store import Database, Repository
from bastion.watch.findings import Severity

MSG = Message(
    "vault drained",
    Severity.HIGH,
    "300000 USD left vault in one transaction",
    7,
    {"block": 12, "tx": "0xabc"},
)


def notifier(kind, **kw):
    sleeps = []
    n = build_notifier(kind, NotifierConfig(type=kind, **kw), sleep=sleeps.append)
    n.sleeps = sleeps
    return n


def test_webhook_signature_is_verifiable(http_receiver, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    n = notifier("webhook", url=http_receiver.url + "/hook", secret_env="HOOK_SECRET")
    assert n.send(MSG) == 1
    (req,) = http_receiver.requests
    assert req.path == "/hook"
    assert req.json()["title"] == "vault drained" and req.json()["severity"] == "high"
    sig = req.headers[SIGNATURE_HEADER]
    assert sig.startswith("sha256=")
    assert verify_signature(b"s3cret", req.body, sig)
    assert not verify_signature(b"wrong", req.body, sig)
    assert not verify_signature(b"s3cret", req.body + b" ", sig)


def test_retries_on_500_then_success(http_receiver):
    http_receiver.statuses = [500, 503, 200]
    n = notifier("webhook", url=http_receiver.url, backoff_s=0.1)
    assert n.send(MSG) == 3
    assert len(http_receiver.requests) == 3
    assert n.sleeps == [0.1, 0.2]  # exponential backoff


def test_gives_up_after_retries_and_does_not_retry_4xx(http_receiver):
    http_receiver.statuses = [500] * 10
    n = notifier("webhook", url=http_receiver.url, retries=2)
    with pytest.raises(NotifyError, match="3 attempts"):
        n.send(MSG)
    http_receiver.requests.clear()
    http_receiver.statuses = [404]
    with pytest.raises(NotifyError, match="not retried"):
        n.send(MSG)
    assert len(http_receiver.requests) == 1


def test_slack_discord_telegram_formats(http_receiver, monkeypatch):
    notifier("slack", url=http_receiver.url + "/slack").send(MSG)
    notifier("discord", url=http_receiver.url + "/discord").send(MSG)
    monkeypatch.setenv("TG_TOKEN", "123:abc")
    notifier("telegram", token_env="TG_TOKEN", chat_id="-100", api_base=http_receiver.url).send(MSG)
    slack, discord, tg = http_receiver.requests
    assert slack.json()["text"].startswith("[HIGH] vault drained") and slack.json()["blocks"][0]["type"] == "header"
    embed = discord.json()["embeds"][0]
    assert embed["title"] == "vault drained" and {"name": "block", "value": "12", "inline": True} in embed["fields"]
    assert tg.path == "/bot123:abc/sendMessage"
    assert tg.json()["chat_id"] == "-100" and tg.json()["parse_mode"] == "HTML" and "<b>" in tg.json()["text"]


def test_telegram_errors_hide_the_token(monkeypatch):
    monkeypatch.setenv("TG_TOKEN", "999:secret-token")
    n = notifier("telegram", token_env="TG_TOKEN", chat_id="1", api_base="http://127.0.0.1:9", retries=1)
    with pytest.raises(NotifyError) as err:
        n.send(MSG)
    assert "secret-token" not in str(err.value)


def test_email_over_smtp_with_retry(smtp_sink):
    smtp_sink.fail_first = 1
    n = notifier(
        "email",
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        starttls=False,
        sender="watch@bastion.test",
        recipients=["ops@bastion.test"],
    )
    assert n.send(MSG) == 2
    (raw,) = smtp_sink.messages
    parsed = email.message_from_bytes(raw)
    assert parsed["Subject"] == "[Bastion HIGH] vault drained"
    assert parsed["To"] == "ops@bastion.test"
    assert "300000 USD left vault" in parsed.get_payload()


def test_hub_sends_once_per_key_and_records(http_receiver, tmp_path):
    db = Database(tmp_path / "n.db")
    hub = NotifierHub(
        db,
        {
            "ops": notifier("webhook", url=http_receiver.url),
            "quiet": notifier("webhook", url=http_receiver.url, min_severity="critical"),
        },
    )
    msg = replace(MSG, incident_id=None)  # no incident row in this database
    hub.notify("1:7:pb:0", msg)
    hub.notify("1:7:pb:0", msg)
    assert http_receiver.requests == []  # queued in the outbox, not sent by the caller
    assert hub.outbox.drain() == 1
    assert hub.outbox.drain() == 0
    assert len(http_receiver.requests) == 1  # once, and the critical-only channel stayed quiet
    with db.session() as s:
        (row,) = Repository.notifications(s)
        assert row.status == "sent" and row.channel == "ops" and row.attempts == 1
    hub.notify("1:8:pb:0", msg, dry_run=True)
    assert len(http_receiver.requests) == 1
    db.dispose()
