"""Issue 12, case 5 on a real anvil with real HTTP receivers: a channel that does not answer, or
answers HTTP 500, never delays detection or the pause (even when the notify action comes first);
a failing channel is retried with backoff by the outbox, not once per finding."""

from __future__ import annotations

import threading
import time

import pytest
from tests.watch.conftest import USD

from bastion.store import Repository
from bastion.tower.service import WatchService


def paused(world) -> bool:
    return world.vault.functions.paused(world.vault.functions.WITHDRAW().call()).call()


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


PAUSE = {"type": "pause", "target": "vault", "function": "pause(bytes32)", "args": ["keccak:withdraw"]}


def _config(world, tmp_path, monkeypatch, url, *, pause=True, **notifier):
    monkeypatch.setenv("TEST_GUARDIAN_KEY", world.node.accounts[1].private_key)
    return world.config(
        tmp_path,
        keys={"guardian": {"env": "TEST_GUARDIAN_KEY"}},
        notifiers={"ops": {"type": "webhook", "url": url, **notifier}},
        playbooks=[
            {
                "name": "contain",
                "on": ["large_transfer"],
                "min_severity": "high",
                # the notification first: it must not hold the pause back
                "actions": [{"type": "notify"}, PAUSE] if pause else [{"type": "notify"}],
            }
        ],
    )


@pytest.mark.parametrize("mode", ["run_once", "loop"])
def test_a_channel_that_never_answers_does_not_delay_the_pause(world, tmp_path, monkeypatch, http_receiver, mode):
    release = threading.Event()
    in_flight = threading.Event()

    def hold(_req):  # answers only when the test says so
        in_flight.set()
        release.wait(120)
        return 200, b"{}"

    http_receiver.responder = hold
    cfg = _config(world, tmp_path, monkeypatch, http_receiver.url, timeout_s=60, retries=0)
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    world.drain(300_000 * USD)
    if mode == "run_once":
        ticker = threading.Thread(target=lambda: [svc.run_once() for _ in range(3)], daemon=True)
    else:
        ticker = threading.Thread(target=svc.run, daemon=True)
    ticker.start()
    try:
        # the pause is mined and the webhook has been called, which has not answered yet
        assert _wait(lambda: paused(world) and in_flight.is_set())
    finally:
        release.set()
    assert _wait(lambda: svc.hub.outbox.queued() == 0)
    svc.stop()
    ticker.join(60)
    with svc.db.session() as s:
        (note,) = Repository.notifications(s)
        assert note.status == "sent" and note.attempts == 1
    svc.close()


def test_failing_channel_is_retried_with_backoff_not_per_finding(world, tmp_path, monkeypatch, http_receiver):
    http_receiver.statuses = [500] * 100
    cfg = _config(world, tmp_path, monkeypatch, http_receiver.url, pause=False, retries=3, backoff_s=0.05)
    svc = WatchService(cfg, configure_logging=False)
    svc.run_once()
    for _ in range(3):  # three findings of one incident, each while the channel keeps failing
        world.drain(200_000 * USD)
        svc.run_once()
    with svc.db.session() as s:
        assert len(Repository.findings(s)) == 3 and len(Repository.incidents(s)) == 1
    assert _wait(lambda: svc.hub.outbox.queued() == 0)
    for _ in range(3):
        svc.run_once()
    with svc.db.session() as s:
        (note,) = Repository.notifications(s)  # one notification for the incident's severity
        assert note.status == "failed" and note.attempts == 4  # the first try and 3 retries
        assert "HTTP 500" in note.last_error
    assert len(http_receiver.requests) == 4  # given up once; later findings and ticks do not retry
    svc.close()
