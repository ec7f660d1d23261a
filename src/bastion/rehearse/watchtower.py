"""The watchtower defence of a rehearsal: the real watchtower, in process, stepped with the chain.

``InProcessWatchtower`` builds a watchtower configuration for the world (every protected contract, the
shipped detectors (generic ones, ``oracle_deviation``'s named references, ``unit_price``, ``guard_event``'s
guardian powers), and the playbooks below), starts it the way every embedding program does
(``bastion.tower.runner.start_watchtower``, ``stepped=True``: the rehearsal moves the chain, so it says
when the watchtower looks) and runs one pass (``Watchtower.step``, the pass ``bastion watch`` runs on each
tick) before each block (mempool scan) and after it (ingest, detect, correlate, respond, confirm). Its
transactions go into the mempool like anyone's and are mined with the next block, ordered by fee; its
findings and actions are read back as the runner's records.

Playbooks (what the watchtower's keys may do on its own):
- ``oracle-market``: a feed far from its market reference -> force that market reduce-only (OracleGuard,
  guardian, at most 1 day);
- ``oracle-withdrawals``: the same, when the feeds moved (not a pool-only anomaly: the playbooks'
  price triage) -> also pause withdrawals (Router, guardian, at most the pause bound). A pool held off
  the feeds by someone with no keys costs that market's opens, never every user's withdrawals, and
  never the guardian's pause cooldown;
- ``contain-<variant>``: a drain, a share-price anomaly or a pending takeover of a variant -> pause
  the variant's non-exit operations;
- ``veto-governance``: a sensitive timelock operation -> propose a Safe transaction that cancels it,
  signed with one owner key; the humans co-sign (or not). One proposal per operation, each on its own
  Safe nonce;
- ``guardian-review``: a guardian power was used -> notify the humans.

``Humans`` models the guardian Safe's owners: after ``delay_s`` of chain time (30 minutes by default,
the fast end of the 30-90 minutes median human containment time) they co-sign the watchtower's Safe
proposals for operations they did not schedule themselves (in nonce order; a proposal they decline is
replaced by an empty "rejection" transaction at its nonce, so the ones behind it can execute), and
when a guardian action was not sent by
their watchtower they rotate the guardian role through the timelock. When their watchtower paused
withdrawals for an incident, they review it and queue governance's remedy through the Safe (ONE batch
voiding the claims and profit of the accounts that took profit at a price the watchtower flagged:
``bastion.respond.remedy``, nothing the scenario knows), hold the pause with the watchtower's guardian key
until the remedy is decided (``HeldPause.holdPause``), execute it when ready and release the hold.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from bastion.rehearse.chain import Actor
from bastion.rehearse.defences import ActionRecord, Defence, FindingRecord
from bastion.rehearse.world import DAY, World
from bastion.respond import remedy as remedies
from bastion.respond.keys import signer_from_hex
from bastion.respond.safe import SafeTx, safe_nonce
from bastion.store import Repository
from bastion.tower.runner import Watchtower, start_watchtower
from bastion.tower.service import WatchService
from bastion.watch.detectors.guards import GUARDIAN_POWERS

GUARDIAN_KEY_ENV = "BASTION_REHEARSE_GUARDIAN_KEY"  # named by the config; the keys are handed in directly
OWNER_KEY_ENV = "BASTION_REHEARSE_SAFE_OWNER_KEY"
ZERO = "0x" + "00" * 20
# Non-exit ops of a variant: DEPOSIT, WITHDRAW, BORROW and the custom admin op 12.
VARIANT_PAUSE_MASK = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 12)
WITHDRAW_MASK = 1 << 1


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


EXTRA_SELECTORS = {
    selector("setEngine(address)"): "upgrade",
    selector("setRouter(address)"): "upgrade",
    selector("transferGovernance(address)"): "role",
    selector("acceptGovernance()"): "role",
    selector("setMarket(bytes32,(address,uint32,address,uint32,uint16,uint16,uint32,uint32))"): "admin",
    selector("updateAssetParams(address,(uint16,uint32,uint256,uint32,uint8,uint8))"): "admin",
    selector("setMaxTxOutflow(uint256)"): "admin",
    selector("overrideRateLimit(address)"): "admin",
}


def watch_config(world: World) -> dict[str, Any]:
    """The watchtower's configuration for ``world`` (a plain dict; ``start_watchtower`` adds the endpoint,
    the database and the deployment manifest, which gives the watchtower the markets, their feeds and
    pools, as ``bastion watch --manifest`` does; the contracts listed here win over it)."""
    feeds = {}
    for m in world.markets.values():
        tag = m.symbol.split("-")[0].lower()
        for which, other in (("primary", "secondary"), ("secondary", "primary")):
            feeds[f"{tag}_{which}"] = {
                "feed": f"feed_{tag}_{which}",
                "pool": f"pool_{tag}",
                "market": "0x" + m.id.hex(),
                "peer": f"feed_{tag}_{other}",
            }
    playbooks: list[dict[str, Any]] = [
        {
            "name": "oracle-market",
            "on": ["oracle_deviation"],
            "min_severity": "high",
            "actions": [
                {
                    "type": "call",
                    "target": "oracle_guard",
                    "function": "forceReduceOnly(bytes32,uint256)",
                    "args": ["$detail.market", DAY],
                },
            ],
        },
        {
            "name": "oracle-withdrawals",
            "on": ["oracle_deviation"],
            "min_severity": "high",
            "when": {"price_source": "feeds"},
            "actions": [
                {
                    "type": "pause",
                    "target": "router",
                    "function": "pause(uint256,uint32,uint256)",
                    "args": [0, WITHDRAW_MASK, DAY],
                },
            ],
        },
        {
            "name": "veto-governance",
            "on": ["governance"],
            "min_severity": "high",
            "actions": [
                {
                    "type": "safe_propose",
                    "safe": "safe",
                    "to": "timelock",
                    "function": "cancel(bytes32)",
                    "args": ["$detail.operation_id"],
                    "key": "owner",
                }
            ],
        },
        {
            "name": "guardian-review",
            "on": ["guard_event"],
            "min_severity": "medium",
            "actions": [{"type": "notify"}],
        },
    ]
    for key in world.variants:
        playbooks.append(
            {
                "name": f"contain-{key}",
                "on": ["large_transfer", "unit_price", "pending_sensitive_call"],
                "min_severity": "medium",
                "actions": [
                    {
                        "type": "pause",
                        "target": key,
                        "function": "pause(uint256,uint32,uint256)",
                        "args": [0, VARIANT_PAUSE_MASK, DAY],
                    }
                ],
            }
        )
    return {
        "service": {
            "start_block": world.start_block,
            "poll_interval": 0.05,
            "history_blocks": 400,
            "incident_window_blocks": 400,
            "traces": True,
            "pending": True,
            "log_format": "text",
            "log_level": "ERROR",
        },
        "protocol": {
            "name": "reference-perp",
            "contracts": world.watch_contracts,
            "assets": world.watch_assets,
        },
        "keys": {"guardian": {"env": GUARDIAN_KEY_ENV}, "owner": {"env": OWNER_KEY_ENV}},
        "relayer": {"replace_after_s": 600.0},
        "detectors": {
            "large_transfer": {"min_fraction_bps": 2_000},
            "outflow_rate": {"window_blocks": 60, "max_fraction_bps": 500},
            "attacker_prep": {"window_blocks": 100},
            "deposit_roundtrip": {},
            "governance": {"extra_selectors": EXTRA_SELECTORS},
            "pending_sensitive_call": {},
            "oracle_deviation": {
                "references": feeds,
                "max_twap_deviation_bps": 300,
                "max_feed_deviation_bps": 100,
                "twap_seconds": 300,
                # an arbitraged pool stays within ~0.5% of honest feeds (0.3% arbitrage threshold, feeds
                # pushed on a 0.5% move); a crossing of 1% says who moved, at the first push
                "max_spot_deviation_bps": 100,
            },
            "unit_price": {"vaults": world.unit_price_vaults},
            # a parameter changed through an emergency power (no timelock) on the registry: a finding in the
            # block it lands, whoever holds the key (high when the caller is not an expected one)
            "emergency_param": {"contracts": ["registry"]},
            # every use of a guardian power, on any protected contract, is worth a human's look
            "guard_event": {
                "events": sorted(GUARDIAN_POWERS),
                "severities": dict.fromkeys(GUARDIAN_POWERS, "medium"),
            },
        },
        "playbooks": playbooks,
    }


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extra = getattr(record, "error", "")
        self.messages.append(f"{record.getMessage()} {extra}".strip())


@dataclass
class InProcessWatchtower(Defence):
    """The real watchtower service, driven block by block (see the module's docstring)."""

    name: str = "watchtower"
    human_delay_s: int = 1800
    world: World | None = None
    tower: Watchtower | None = None
    people: Humans | None = None
    errors: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = None
    _log: _Collect | None = None
    _pending_slot: dict[int, int] = field(default_factory=dict)

    @property
    def service(self) -> WatchService | None:
        return self.tower.service if self.tower is not None else None

    def start(self, world: World) -> None:
        self.world = world
        self._tmp = tempfile.TemporaryDirectory(prefix="bastion-rehearse-watch-")
        keys = {"guardian": world.actors["watchtower"].key, "owner": world.actors["safe_owner_1"].key}
        self.tower = start_watchtower(
            world.manifest,
            watch_config(world),
            world.node.http_url,
            keys=keys,
            workdir=self._tmp.name,
            network={"chain_id": world.clock.chain_id, "timeout": 30.0},
            stepped=True,
        )
        self._log = _Collect()
        root = logging.getLogger("bastion")
        root.addHandler(self._log)
        root.propagate = False
        self.people = Humans(world, self.tower.service, self.human_delay_s)

    def before_block(self) -> None:
        assert self.tower is not None and self.world is not None
        self.tower.step()
        # A finding about a pending transaction has no block yet: it belongs to the block being built.
        for r in self.tower.findings():
            if r.block_number is None and r.id not in self._pending_slot:
                self._pending_slot[r.id] = self.world.clock.block_number + 1

    def after_block(self) -> None:
        assert self.tower is not None and self.people is not None
        start = time.perf_counter()
        self.tower.step()
        self.reaction_wall_s.append(time.perf_counter() - start)
        self.people.step()

    def stop(self) -> None:
        if self.tower is not None:
            self.tower.stop()
            self.tower = None
        if self._log is not None:
            logging.getLogger("bastion").removeHandler(self._log)
            self.errors = list(self._log.messages)
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def findings(self) -> list[FindingRecord]:
        if self.tower is None or self.world is None:
            return []
        out = []
        for r in self.tower.findings():
            block = r.block_number if r.block_number is not None else self._pending_slot.get(r.id)
            out.append(FindingRecord(r.detector, r.severity, block, self._ts(block), r.title, r.tx_hash, r.subject))
        return sorted(out, key=lambda f: f.block or 0)  # stable: first stored first within a block

    def actions(self) -> list[ActionRecord]:
        if self.tower is None:
            return []
        return [
            ActionRecord(r.kind, r.playbook, r.status, r.tx_hash, r.mined_block, self._ts(r.mined_block), r.error)
            for r in self.tower.actions()
        ]

    def humans(self) -> list[dict[str, Any]]:
        return list(self.people.log) if self.people else []

    def own_tx_hashes(self) -> set[str]:
        assert self.service is not None
        hashes: set[str] = set()
        with self.service.db.session() as s:
            for a in Repository.actions(s):
                if a.tx_hash:
                    hashes.add(a.tx_hash.lower())
                for att in Repository.attempts(s, a.id):
                    hashes.add(att.tx_hash.lower())
        return hashes

    def _ts(self, block: int | None) -> int | None:
        if block is None or self.world is None:
            return None
        return self.world.clock.block_timestamp(block)


@dataclass
class Humans:
    """The guardian Safe's owners (see the module's docstring). Owner 1's key is the watchtower's."""

    world: World
    service: WatchService
    delay_s: int = 1800
    log: list[dict[str, Any]] = field(default_factory=list)
    own_ops: set[str] = field(default_factory=set)
    _seen: dict[str, int] = field(default_factory=dict)
    _done: set[str] = field(default_factory=set)
    _reviewed: set[int] = field(default_factory=set)
    _rogue_seen_at: int | None = None
    _rotation: dict[str, Any] | None = None
    _safe_nonce: int | None = None
    _remedy: dict[str, Any] | None = None

    @property
    def now(self) -> int:
        return self.world.clock.timestamp

    def step(self) -> None:
        with self.service.db.session() as s:
            proposals = [
                (p.safe_tx_hash, p.to, p.data, p.value, p.operation, p.nonce, p.signature, p.signer)
                for p in Repository.safe_proposals(s)
            ]
            findings = [
                (f.id, f.block_number, f.tx_hash)
                for f in Repository.findings(s, include_retracted=False)
                if f.detector == "guard_event"
            ]
        # The Safe executes strictly in nonce order: take proposals lowest nonce first, stop at the first
        # one not yet due (the ones behind it wait for it).
        proposals.sort(key=lambda p: int(p[5]))
        for p in proposals:
            self._seen.setdefault(p[0], self.now)
        due = None
        for safe_hash, to, data, value, operation, nonce, signature, signer in proposals:
            if safe_hash in self._done:
                continue
            if self.now < self._seen[safe_hash] + self.delay_s:
                break
            if due is None:
                due = int(self.world.read(self.world.protocol.safe.functions.nonce()))
            if int(nonce) < due:  # superseded: its nonce was used meanwhile
                self._done.add(safe_hash)
                continue
            self._done.add(safe_hash)
            raw = bytes.fromhex(data[2:])
            if raw[:4] == keccak(text="cancel(bytes32)")[:4] and "0x" + raw[4:36].hex() in self.own_ops:
                self.log.append(
                    {"at": self.now, "what": "declined a cancel of our own operation", "proposal": safe_hash}
                )
                # An empty transaction to the Safe itself uses up the nonce (a Safe "rejection").
                self._execute_safe(self.world.protocol.safe.address, b"", 0, 0, int(nonce), {})
            else:
                rec = self._execute_safe(
                    to, raw, int(value), int(operation), int(nonce), {signer.lower(): bytes.fromhex(signature[2:])}
                )
                self.log.append(
                    {"at": self.now, "what": "co-signed and executed the watchtower's Safe proposal", "tx": rec.tx_hash}
                )
            due = int(nonce) + 1
        self._safe_nonce = due  # the nonce after the Safe transactions sent in this step, if any
        own = None
        for fid, block, tx_hash in findings:
            if fid in self._reviewed:
                continue
            if self.now < self.world.clock.block_timestamp(block) + self.delay_s:
                continue
            self._reviewed.add(fid)
            if own is None:
                wt = self._watchtower()
                own = wt.own_tx_hashes() if wt is not None else set()
            if (tx_hash or "").lower() in own:
                continue
            self.log.append({"at": self.now, "what": "a guardian action the watchtower did not send", "tx": tx_hash})
            if self._rotation is None:
                self._schedule_rotation()
        if self._rotation is not None and not self._rotation["executed"] and self.now >= self._rotation["ready_at"]:
            self._execute_rotation()
        self._contain()

    # -- containment until governance decides ---------------------------------------------------------
    def _contain(self) -> None:
        """Queue the remedy of the incident the watchtower paused withdrawals for, hold the pause while it
        is queued, execute it when ready, release the hold (one incident: the first such pause)."""
        r = self._remedy
        if r is None:
            pause = self._withdrawal_pause()
            if pause is not None and self.now >= self.world.clock.block_timestamp(pause[1]) + self.delay_s:
                self._queue_remedy(*pause)
        elif r["stage"] == "scheduled":
            self._hold(r)
        elif r["stage"] == "held" and self.now >= r["ready_at"]:
            self._execute_remedy(r)

    def _withdrawal_pause(self) -> tuple[int | None, int] | None:
        """(incident, block) of the watchtower's first mined pause of the Router, if any."""
        router = self.world.protocol.router.address.lower()
        with self.service.db.session() as s:
            for a in Repository.actions(s):
                if a.kind == "pause" and (a.target or "").lower() == router and a.mined_block is not None:
                    return a.incident_id, int(a.mined_block)
        return None

    def _queue_remedy(self, incident_id: int | None, _paused_block: int) -> None:
        w = self.world
        p = w.protocol
        self._remedy = {"stage": "reviewed"}
        if not w.read(p.router.functions.isPaused(1, 0)):
            return  # the pause has already ended: nothing left to hold
        with self.service.db.session() as s:
            rows = Repository.findings(s, include_retracted=False)
            findings = [f for f in rows if incident_id is None or f.incident_id == incident_id]
        max_bps = int(watch_config(w)["detectors"]["oracle_deviation"]["max_twap_deviation_bps"])
        rem = remedies.plan(p, findings, head=w.clock.block_number, max_deviation_bps=max_bps, incident=incident_id)
        if rem is None:
            self.log.append({"at": self.now, "what": "reviewed the incident: nobody to void"})
            return
        accounts = list(rem.gains)
        delay = int(w.read(p.timelock.functions.getMinDelay()))
        self.own_ops |= {"0x" + rem.batch_id.hex(), "0x" + rem.marker_id.hex()}
        nonce = self._safe_nonce if self._safe_nonce is not None else safe_nonce(self.service.rpc, p.safe.address)
        for i, data in enumerate(remedies.schedule_calls(p.timelock, rem, delay)):
            self._execute_safe(p.timelock.address, data, 0, 0, nonce + i, {})
        self._safe_nonce = nonce + 2
        self._remedy = {"stage": "scheduled", "remedy": rem, "incident": incident_id,
                        "ready_at": self.now + delay + w.clock.block_time}  # fmt: skip
        self.log.append(
            {
                "at": self.now,
                "what": f"queued the remedy (void claims and profit of {len(accounts)} account(s))",
                "accounts": accounts,
                "report_hash": "0x" + rem.report_hash.hex(),
            }
        )

    def _hold(self, r: dict[str, Any]) -> None:
        """Once the remedy is queued: hold the pause with the watchtower's guardian key (its relayer)."""
        w = self.world
        p = w.protocol
        rem: remedies.Remedy = r["remedy"]
        if not w.read(p.timelock.functions.isOperationPending(rem.marker_id)):
            return  # not mined yet
        self.service.relayers["guardian"].submit(
            f"{r['incident']}:humans:hold-pause",
            to=p.router.address,
            data=remedies.hold_call(p.router, rem),
            gas=300_000,
            kind="call",
            playbook="humans-hold",
            incident_id=r["incident"],
        )
        r["stage"] = "held"
        self.log.append({"at": self.now, "what": "held the withdrawal pause until the remedy is decided"})

    def _execute_remedy(self, r: dict[str, Any]) -> None:
        w = self.world
        p = w.protocol
        rem: remedies.Remedy = r["remedy"]
        tl = p.timelock.functions
        who = self._owner("safe_owner_2")
        w.clock.send(who, tl.executeBatch(rem.targets, [0] * len(rem.targets), rem.datas, remedies.ZERO32,
                                          rem.batch_salt), label="execute the remedy", gas=3_000_000)  # fmt: skip
        w.clock.send(who, tl.execute(rem.marker_target, 0, rem.marker_data, rem.batch_id, rem.marker_salt),
                     label="execute the remedy marker", gas=200_000)  # fmt: skip
        w.clock.send(who, p.router.functions.releaseHold(0), label="release the hold", gas=200_000)
        r["stage"] = "done"
        self.log.append({"at": self.now, "what": "executed the remedy and released the hold"})

    def _watchtower(self) -> InProcessWatchtower | None:
        return getattr(self.world, "defence", None)

    # -- Safe transactions ----------------------------------------------------------------------------
    def _owner(self, name: str) -> Actor:
        return self.world.actors[name]

    def _execute_safe(self, to: str, data: bytes, value: int, operation: int, nonce: int, sigs: dict[str, bytes]):
        w = self.world
        safe = w.protocol.safe
        tx = SafeTx(safe=safe.address, chain_id=w.clock.chain_id, to=w.w3.to_checksum_address(to), value=value,
                    data=data, operation=operation, nonce=nonce)  # fmt: skip
        for name in ("safe_owner_2", "safe_owner_3"):
            if len(sigs) >= 2:
                break
            owner = self._owner(name)
            if owner.address.lower() not in sigs:
                sigs[owner.address.lower()] = signer_from_hex(owner.key).sign_digest(tx.hash())
        packed = b"".join(sigs[a] for a in sorted(sigs, key=lambda a: int(a, 16)))
        fn = safe.functions.execTransaction(tx.to, value, data, operation, 0, 0, 0, ZERO, ZERO, packed)
        return w.clock.send(self._owner("safe_owner_2"), fn, label="safe execTransaction", gas=2_000_000)

    def _schedule_rotation(self) -> None:
        """Through the Safe and the timelock: hand every guard's guardian role to the backup key."""
        w = self.world
        p = w.protocol
        backup = w.actors["backup_guardian"].address
        targets = [p.router.address, p.vault.address, p.oracle.address, p.registry.address]
        datas = [p.router.functions.setGuardian(backup)._encode_transaction_data() for _ in targets]
        datas = [bytes.fromhex(d[2:]) for d in datas]
        salt = keccak(text=f"rotate-guardian-{self.now}")
        delay = int(p.timelock.functions.getMinDelay().call())
        op_id = p.timelock.functions.hashOperationBatch(targets, [0] * len(targets), datas, b"\0" * 32, salt).call()
        self.own_ops.add("0x" + op_id.hex())
        data = p.timelock.functions.scheduleBatch(
            targets, [0] * len(targets), datas, b"\0" * 32, salt, delay
        )._encode_transaction_data()
        # Right after what the humans sent this step (those transactions are not mined yet).
        nonce = self._safe_nonce if self._safe_nonce is not None else safe_nonce(self.service.rpc, p.safe.address)
        rec = self._execute_safe(p.timelock.address, bytes.fromhex(data[2:]), 0, 0, nonce, {})
        ready_at = self.now + delay + w.clock.block_time
        self._rotation = {"targets": targets, "datas": datas, "salt": salt, "ready_at": ready_at, "executed": False}
        self.log.append({"at": self.now, "what": "scheduled the guardian rotation in the timelock", "tx": rec.tx_hash})

    def _execute_rotation(self) -> None:
        w = self.world
        r = self._rotation
        assert r is not None
        fn = w.protocol.timelock.functions.executeBatch(
            r["targets"], [0] * len(r["targets"]), r["datas"], b"\0" * 32, r["salt"]
        )
        rec = w.clock.send(self._owner("safe_owner_2"), fn, label="execute guardian rotation", gas=1_000_000)
        r["executed"] = True
        self.log.append({"at": self.now, "what": "executed the guardian rotation", "tx": rec.tx_hash})
