"""Protocol-level detectors the rehearsal's watchtower needs and the generic set lacks.

They are ordinary watchtower detectors (``bastion.watch.detectors`` registry, pure ``run(event, view)``,
pydantic configs) and know nothing about any scenario: each watches a property any protocol of the
kind can declare.

- ``oracle_reference``: a price feed's answer deviates from an independent market reference (the
  time-weighted price of an AMM pool) by more than ``max_deviation_bps``, or from a peer feed of the same
  asset by more than ``max_peer_deviation_bps``. Catches a compromised feeder (even of both feeds), a
  stuck feed during a fast move, a feed pinned at a floor. A time-weighted reference cannot be moved by
  one flash-loan transaction.
- ``unit_price``: the price of one share of a vault (assets / supply) falls, or rises by more than
  ``max_rise_bps`` in one block, or starts far above its nominal price. Rounding in the protocol's
  favour never lowers it, so any drop means value is leaving the remaining holders.
- ``guardian_action``: a guardian power was used (a pause, an extension, a forced reduce-only, a trip
  extension). Every use is worth a human's look: the key may be the one that leaked.

Import this module once to register them (``bastion.rehearse.watchtower`` does).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, Field

from bastion.watch.detectors import REGISTRY, Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

WAD = 10**18
LATEST_ROUND_DATA = keccak(text="latestRoundData()")[:4]
PRICE_CUMULATIVE = keccak(text="priceCumulative()")[:4]
LAST_UPDATE = keccak(text="lastUpdate()")[:4]
SPOT_PRICE = keccak(text="spotPrice()")[:4]


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw[:32], "big") if raw else 0


class FeedRef(BaseModel):
    """One feed to check against one pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    feed: str  # contract name or address
    pool: str  # ConstantProductPool-like: priceCumulative(), lastUpdate(), spotPrice() (1e18)
    market: str = ""  # free label passed through to findings (e.g. a bytes32 market id for playbooks)
    decimals: int = Field(default=8, ge=0, le=36)
    peer: str = ""  # optional second, independent feed of the same asset (same decimals) to cross-check


class VaultRef(BaseModel):
    """One vault's share price: ``assets() * 1e18 / supply()``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    vault: str
    assets: str = "totalAssets()"
    supply: str = "totalSupply()"
    initial_price: int = Field(default=WAD, gt=0, description="nominal price of one supply unit, x 1e18")


def _sel(signature: str) -> bytes:
    return keccak(text=signature)[:4]


if "oracle_reference" not in REGISTRY:

    @register
    class OracleReference(Detector):
        id = "oracle_reference"
        severity = Severity.HIGH
        description = "A price feed deviates from the time-weighted price of an independent AMM pool"

        class Config(DetectorConfig):
            feeds: dict[str, FeedRef] = Field(default_factory=dict)
            max_deviation_bps: int = Field(default=300, gt=0, le=10_000)
            max_peer_deviation_bps: int = Field(default=100, gt=0, le=10_000)
            twap_seconds: int = Field(default=300, gt=0)

        def _state(self, view: ChainView, block: Block) -> dict[str, Any]:
            """Per-block readings (memoized): each feed's price and age, each pool's cumulative price."""

            def compute(b: Block) -> dict[str, Any]:
                out: dict[str, Any] = {"ts": b.timestamp}
                for name, ref in self.config.feeds.items():
                    feed = view.protocol.resolve(ref.feed)
                    pool = view.protocol.resolve(ref.pool)
                    raw = view.call(feed, LATEST_ROUND_DATA, b.number)
                    _, answer, _, updated_at, _ = decode(["uint80", "int256", "uint256", "uint256", "uint80"], raw)
                    spot = _uint(view.call(pool, SPOT_PRICE, b.number))
                    cum = _uint(view.call(pool, PRICE_CUMULATIVE, b.number))
                    last = _uint(view.call(pool, LAST_UPDATE, b.number))
                    peer = 0
                    if ref.peer:
                        raw = view.call(view.protocol.resolve(ref.peer), LATEST_ROUND_DATA, b.number)
                        peer = max(int(decode(["uint80", "int256", "uint256", "uint256", "uint80"], raw)[1]), 0)
                    scale = 10 ** (18 - ref.decimals) if ref.decimals <= 18 else 0
                    out[name] = {
                        "price": max(int(answer), 0) * scale,
                        "peer": peer * scale,
                        "updated_at": int(updated_at),
                        "spot": spot,
                        "cum": cum + spot * max(0, b.timestamp - last),
                    }
                return out

            return view.history.derive(block, "oracle_reference", compute)

        def _deviations(self, view: ChainView, block: Block) -> dict[str, tuple[int, int, dict[str, Any]]]:
            """Per feed: (how far beyond its threshold in bps, the reference it was judged against, readings).

            The market reference is the pool's time-weighted price over ``twap_seconds``; a feed with a
            peer is also judged against the peer (a tighter threshold: two feeds of one asset agree)."""
            cfg = self.config
            now = self._state(view, block)
            window = view.history.window(block, seconds=cfg.twap_seconds)
            first = self._state(view, window[0]) if len(window) > 1 else None
            out = {}
            for name in cfg.feeds:
                cur = now[name]
                ref = cur["spot"]
                if first is not None and now["ts"] > first["ts"]:
                    ref = (cur["cum"] - first[name]["cum"]) // (now["ts"] - first["ts"])
                if ref <= 0 or cur["price"] <= 0:
                    continue
                over = abs(cur["price"] - ref) * 10_000 // ref - cfg.max_deviation_bps
                judged = ref
                if cur["peer"] > 0:
                    peer_over = abs(cur["price"] - cur["peer"]) * 10_000 // cur["peer"] - cfg.max_peer_deviation_bps
                    if peer_over > over:
                        over, judged = peer_over, cur["peer"]
                out[name] = (over, judged, cur)
            return out

        def run(self, event: Block, view: ChainView) -> list[Finding]:
            cfg = self.config
            now = self._deviations(view, event)
            prev_block = view.history.last
            before = self._deviations(view, prev_block) if prev_block is not None else {}
            out = []
            for name, (over, ref, cur) in now.items():
                if over <= 0:
                    continue
                if name in before and before[name][0] > 0:
                    continue  # already reported when it crossed
                fr = cfg.feeds[name]
                bps = abs(cur["price"] - ref) * 10_000 // ref
                out.append(
                    self.finding(
                        event,
                        f"feed {name} is {bps} bps away from its reference",
                        subject=view.protocol.resolve(fr.feed),
                        discriminator=name,
                        details={
                            "feed": name,
                            "market": fr.market,
                            "price": cur["price"],
                            "reference": ref,
                            "deviation_bps": bps,
                            "age_s": event.timestamp - cur["updated_at"],
                        },
                    )
                )
            return out


if "unit_price" not in REGISTRY:

    @register
    class UnitPrice(Detector):
        id = "unit_price"
        severity = Severity.HIGH
        description = "A vault's share price fell, jumped, or started far above its nominal price"

        class Config(DetectorConfig):
            vaults: dict[str, VaultRef] = Field(default_factory=dict)
            max_drop_bps: int = Field(default=1, ge=0, le=10_000)
            max_rise_bps: int = Field(default=2_000, gt=0)
            max_initial_ratio: int = Field(default=10, gt=1)

        def _prices(self, view: ChainView, block: Block) -> dict[str, int | None]:
            def compute(b: Block) -> dict[str, int | None]:
                out: dict[str, int | None] = {}
                for name, ref in self.config.vaults.items():
                    vault = view.protocol.resolve(ref.vault)
                    supply = _uint(view.call(vault, _sel(ref.supply), b.number))
                    assets = _uint(view.call(vault, _sel(ref.assets), b.number))
                    out[name] = assets * WAD // supply if supply else None
                return out

            return view.history.derive(block, "unit_price", compute)

        def run(self, event: Block, view: ChainView) -> list[Finding]:
            cfg = self.config
            now = self._prices(view, event)
            prev_block = view.history.last
            before = self._prices(view, prev_block) if prev_block is not None else {}
            out = []
            for name, price in now.items():
                if price is None:
                    continue
                ref = cfg.vaults[name]
                prev = before.get(name)
                what = None
                if prev is None:
                    if price > ref.initial_price * cfg.max_initial_ratio:
                        what = "starts inflated"
                elif price * 10_000 < prev * (10_000 - cfg.max_drop_bps) or (cfg.max_drop_bps == 0 and price < prev):
                    what = "fell"
                elif price * 10_000 > prev * (10_000 + cfg.max_rise_bps):
                    what = "jumped"
                if what is None:
                    continue
                out.append(
                    self.finding(
                        event,
                        f"share price of {name} {what}",
                        subject=view.protocol.resolve(ref.vault),
                        discriminator=name,
                        details={"vault": name, "price": price, "previous": prev, "change": what},
                    )
                )
            return out


GUARDIAN_EVENTS = frozenset({"Paused", "PauseExtended", "ReduceOnlyForced", "RateLimitExtended"})

if "guardian_action" not in REGISTRY:

    @register
    class GuardianAction(Detector):
        id = "guardian_action"
        severity = Severity.MEDIUM
        description = "A guardian power was used on a protected contract (pause, extension, forced reduce-only)"

        class Config(DetectorConfig):
            events: list[str] = Field(default_factory=lambda: sorted(GUARDIAN_EVENTS))

        def run(self, event: Block, view: ChainView) -> list[Finding]:
            protected = view.protocol.protected
            names = set(self.config.events)
            out = []
            for tx in event.txs:
                if tx.status == 0:
                    continue
                for lg in tx.logs:
                    if lg.name not in names or lg.address not in protected:
                        continue
                    out.append(
                        self.finding(
                            event,
                            f"{lg.name} on {view.protocol.label(lg.address)} by {tx.sender}",
                            tx_hash=tx.hash,
                            subject=lg.address,
                            actor=tx.sender,
                            discriminator=f"{lg.log_index}",
                            details={"event": lg.name, "args": dict(lg.args or {}), "contract": lg.address},
                        )
                    )
            return out
