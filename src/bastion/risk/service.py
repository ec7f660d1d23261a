"""Run the risk engine against a chain: the embedded one (started, deployed to, optionally given a price
history) or any JSON-RPC endpoint with a deployment manifest; keys by reference; a bounded loop."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bastion.chain.contracts import Sender, connect
from bastion.chain.node import AnvilNode, dev_accounts
from bastion.paths import SetupError
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import Manifest, deploy_system, dev_keys, dev_roles
from bastion.respond.keys import Signer, load_signer, signer_from_hex
from bastion.risk.config import ConfigError, KeyRef, RiskConfig
from bastion.risk.engine import CycleResult, RiskEngine
from bastion.risk.replay import HistoryReplay

DEV_CHAIN_ID = 31_337
DEV_ACCOUNTS = 16
DEV_RISK, DEV_SAFE_OWNER = 7, 2
DEV_FEEDS = ("primary", "secondary")


@dataclass
class Runtime:
    protocol: Protocol
    engine: RiskEngine
    node: AnvilNode | None = None
    replay: HistoryReplay | None = None


def _signer(ref: KeyRef | None, where: str, dev_index: int, chain_id: int) -> Signer | None:
    if ref is not None:
        try:
            return load_signer(env=ref.env, keystore=ref.keystore, password_env=ref.password_env)
        except RuntimeError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if chain_id == DEV_CHAIN_ID:
        return signer_from_hex(dev_accounts(DEV_ACCOUNTS)[dev_index].private_key)
    return None


def resolve_keys(cfg: RiskConfig, protocol: Protocol) -> tuple[Sender | None, Signer | None]:
    """The RISK sender and the Safe owner's signer, checked against the chain's roles."""
    w3 = protocol.w3
    chain_id = w3.eth.chain_id
    risk = _signer(cfg.keys.risk, "keys.risk", DEV_RISK, chain_id)
    owner = _signer(cfg.keys.safe_owner, "keys.safe_owner", DEV_SAFE_OWNER, chain_id)
    if risk is not None:
        expected = protocol.registry.functions.risk().call()
        if risk.address.lower() != expected.lower():
            raise ConfigError(f"keys.risk: {risk.address} is not the registry's RISK account ({expected})")
    if owner is not None and not protocol.safe.functions.isOwner(owner.address).call():
        raise ConfigError(f"keys.safe_owner: {owner.address} is not an owner of the guardian Safe")
    # A Signer signs like a LocalAccount (address + sign_transaction) and never exposes its key.
    return (Sender(w3, risk) if risk is not None else None), owner  # type: ignore[arg-type]


@contextlib.contextmanager
def open_runtime(cfg: RiskConfig, *, dry_run: bool | None = None, need_keys: bool = True) -> Iterator[Runtime]:
    """Connect (or start and deploy the embedded chain), resolve keys, open the store, build the engine."""
    dry = cfg.output.dry_run if dry_run is None else dry_run
    node: AnvilNode | None = None
    replay: HistoryReplay | None = None
    with contextlib.ExitStack() as stack:
        if cfg.chain.rpc_url:
            w3 = connect(cfg.chain.rpc_url, timeout=cfg.chain.timeout_seconds)
            if not w3.is_connected():
                raise SetupError(f"chain.rpc_url: no JSON-RPC answer at {cfg.chain.rpc_url}")
            manifest = Manifest.load(cfg.chain.manifest or "")
            if manifest.chain_id != w3.eth.chain_id:
                raise ConfigError(
                    f"chain.manifest: written for chain {manifest.chain_id}, the endpoint is chain {w3.eth.chain_id}"
                )
        else:
            node = stack.enter_context(AnvilNode(accounts=DEV_ACCOUNTS, block_time=cfg.chain.block_time))
            w3 = connect(node.http_url, timeout=cfg.chain.timeout_seconds)
            sender = Sender.from_key(w3, node.accounts[0].private_key)
            manifest = deploy_system(sender, dev_roles(node.accounts), dev_keys(node.accounts))
        protocol = Protocol(w3, manifest)
        if node is not None and (cfg.chain.replay_hours or cfg.chain.hours_per_cycle):
            keys = dev_keys(node.accounts)
            feeders = {which: Sender.from_key(w3, keys[protocol.feed_signer(which)]) for which in DEV_FEEDS}
            replay = HistoryReplay(node, protocol, feeders, Sender.from_key(w3, node.accounts[0].private_key))
            replay.advance(cfg.chain.replay_hours)
        risk, owner = resolve_keys(cfg, protocol) if need_keys and not dry else (None, None)
        db = None
        if not dry:
            from bastion.store import Database

            store = cfg.output.store
            if "://" not in store:
                Path(store).parent.mkdir(parents=True, exist_ok=True)
            db = Database(store)
            stack.callback(db.dispose)
        engine = RiskEngine(protocol, cfg, risk=risk, owner=owner, db=db, dry_run=dry)
        yield Runtime(protocol, engine, node, replay)


def run_loop(
    rt: Runtime,
    cfg: RiskConfig,
    on_result: Callable[[int, CycleResult], None],
    on_error: Callable[[int, Exception], None],
    *,
    cycles: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Cycle every ``interval_seconds`` until ``stop`` is set or ``cycles`` ran; returns cycles run. A failing
    cycle (an RPC error, a node restart) is reported and the loop goes on."""
    stop = stop or threading.Event()
    n = 0
    while not stop.is_set():
        try:
            if rt.replay is not None and n > 0 and cfg.chain.hours_per_cycle:
                rt.replay.advance(cfg.chain.hours_per_cycle)
            on_result(n, rt.engine.cycle())
        except Exception as exc:  # one bad cycle must not end a long-running service
            on_error(n, exc)
        n += 1
        if cycles is not None and n >= cycles:
            break
        if stop.wait(cfg.interval_seconds):
            break
    return n
