"""Oracle detectors: the reference clearinghouse's markets (from the deployment manifest) and any
protocol's feeds declared in the config (``kind = "feed"`` with a ``reference``, see ``feeds.py``).

- ``oracle_deviation``: when a market's feed reports (``AnswerUpdated``), or every ``recheck_blocks``,
  compare the primary feed with the secondary feed and with the AMM pool (``ConstantProductPool``: its
  TWAP from ``priceCumulative`` over ``twap_blocks`` and its spot; the feed is judged against the nearer
  of the two, since in a genuine fast move the arbitraged spot follows the feeds while the TWAP lags).
  Feeds that agree with each other but not with the pool are the compromised-feeder pattern: the
  OracleGuard accepts such a move (it is corroborated), so it is CRITICAL.
- ``oracle_deviation`` with ``references`` (named feed -> pool, optional peer feed): every block, the
  feed against the nearer of the pool's time-weighted price over ``twap_seconds`` (a TWAP one flash-loan
  transaction cannot move) and its spot, and against its peer; reported once when it crosses the
  threshold. Catches a compromised feeder (even of both feeds), a feed stuck during a fast move, a feed
  pinned at a floor. With ``max_spot_deviation_bps`` (the band an arbitraged pool keeps around honest
  feeds) it also reports, in the block a feed and its pool's spot leave that band, who moved: a feed
  pushed off a pool that stayed (and off its TWAP), however small the push: HIGH; the pool pushed off
  fresh feeds that agree with each other: MEDIUM (a pool anomaly; the narrow answer comes with the
  TWAP crossing).
- ``stale_feed``: a feed's ``updatedAt`` older than its heartbeat (the OracleGuard's own, unless
  configured), reported on the block where it becomes stale.

Prices are compared as integers in 1e18 USD per unit of the base asset.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bastion.watch.detectors.abi import ANSWER_UPDATED, bps, call_data, sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.feeds import feeds_of, read, updated_feeds
from bastion.watch.events import Block, Log
from bastion.watch.findings import Finding, Severity
from bastion.watch.protocol import MarketInfo
from bastion.watch.view import ChainView

LATEST = sel("latestRoundData()")
WAD = 10**18


class FeedRef(BaseModel):
    """One feed checked against one pool (``priceCumulative()``, ``lastUpdate()``, ``spotPrice()`` in 1e18)
    and, optionally, a peer feed of the same asset (same decimals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    feed: str  # contract name or address
    pool: str
    market: str = ""  # passed through to findings (e.g. a bytes32 market id for playbooks)
    decimals: int = Field(default=8, ge=0, le=36)
    peer: str = ""


def _markets(view: ChainView, chosen: list[str]) -> list[MarketInfo]:
    ms = view.protocol.markets
    return [ms[s] for s in chosen if s in ms] if chosen else list(ms.values())


def feed_decimals(view: ChainView) -> int:
    return int(view.protocol.parameters.get("feed_decimals", 8))


def to_wad(answer: int, decimals: int) -> int:
    return answer * 10 ** (18 - decimals) if decimals <= 18 else answer // 10 ** (decimals - 18)


def pool_cumulative(answers: list[bytes | None], ts: int) -> tuple[int, int] | None:
    """(cumulative price at ``ts``, spot) from (priceCumulative, lastUpdate, spotPrice) answers."""
    cum, last, spot = (word(a) for a in answers)
    if cum is None or last is None or spot is None:
        return None
    return cum + spot * max(0, ts - last), spot


POOL_READS = ("priceCumulative()", "lastUpdate()", "spotPrice()")


def pool_twap(view: ChainView, m: MarketInfo, block: Block, twap_blocks: int) -> tuple[int, int] | None:
    """(TWAP over the last ``twap_blocks`` blocks, spot) of the market's pool; the spot when the
    window is empty; None without a pool."""
    if m.pool is None:
        return None
    window = view.history.window(block, blocks=twap_blocks + 1)
    first = window[0]
    reads = [(m.pool, sel(s), block.number) for s in POOL_READS]
    if first.number < block.number:
        reads += [(m.pool, sel(s), first.number) for s in POOL_READS]
    answers = view.call_many(reads)
    now = pool_cumulative(answers[:3], block.timestamp)
    if now is None:
        return None
    if first.number == block.number or block.timestamp <= first.timestamp:
        return now[1], now[1]
    then = pool_cumulative(answers[3:], first.timestamp)
    if then is None:
        return now[1], now[1]
    return (now[0] - then[0]) // (block.timestamp - first.timestamp), now[1]


def _updates(block: Block, feeds: set[str]) -> dict[str, Log]:
    """The first ``AnswerUpdated`` of each feed in ``block`` (successful transactions only)."""
    out: dict[str, Log] = {}
    for tx in block.txs:
        if tx.status == 0:
            continue
        for lg in tx.logs:
            if lg.address in feeds and lg.topic0 == ANSWER_UPDATED and lg.address not in out:
                out[lg.address] = lg
    return out


@register
class OracleDeviation(Detector):
    id = "oracle_deviation"
    severity = Severity.HIGH
    description = (
        "A feed deviates from its reference beyond a threshold: a config feed (kind feed) from its reference "
        "feed or V2-pair TWAP (critical past critical_bps); a market's primary feed from its secondary or "
        "the pool (nearer of TWAP and spot; critical when both feeds agree on a price the pool does not show); "
        "a named reference's feed from its pool (nearer of TWAP over twap_seconds and spot) or its peer, every "
        "block (once per crossing), and who left an arbitraged pool's band first (max_spot_deviation_bps)"
    )

    class Config(DetectorConfig):
        markets: list[str] = Field(default_factory=list, description="symbols; empty: every market")
        max_feed_deviation_bps: int = Field(default=100, gt=0, le=10_000)
        max_twap_deviation_bps: int = Field(default=500, gt=0, le=10_000)
        twap_blocks: int = Field(default=30, gt=0, le=10_000)
        recheck_blocks: int = Field(
            default=0, ge=0, le=100_000, description="also check every N blocks; 0: on updates only"
        )
        feeds: list[str] = Field(default_factory=list, description="config feeds (names); empty: every feed")
        critical_bps: int = Field(default=2_000, gt=0, le=100_000, description="a config feed's critical level")
        references: dict[str, FeedRef] = Field(default_factory=dict, description="name -> feed, pool, peer")
        twap_seconds: int = Field(default=300, gt=0, le=7 * 86_400, description="the references' TWAP window")
        max_spot_deviation_bps: int = Field(
            default=0,
            ge=0,
            le=10_000,
            description="references: the band an arbitraged pool keeps around its feed; a crossing of it "
            "reports who moved (a feed off its pool's spot and TWAP: high; the pool off fresh, agreeing "
            "feeds: medium); 0: off",
        )

    recommendation = "Restrict the markets the feed prices (reduce-only) and check the feeder key"

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        markets = _markets(view, cfg.markets)
        feeds = {f for m in markets for f in (m.feed_primary, m.feed_secondary) if f}
        updates = _updates(event, feeds)
        recheck = cfg.recheck_blocks and event.number % cfg.recheck_blocks == 0
        out: list[Finding] = self._config_feeds(event, view, recheck) + self._references(event, view)
        dec = feed_decimals(view)
        for m in markets:
            touched = [updates[f] for f in (m.feed_primary, m.feed_secondary) if f in updates]
            if not touched and not recheck:
                continue
            reads = [(m.feed_primary, LATEST, event.number)]
            if m.feed_secondary:
                reads.append((m.feed_secondary, LATEST, event.number))
            answers = view.call_many(reads)
            primary = word(answers[0], 1, signed=True)
            if primary is None or primary <= 0:
                continue  # an invalid feed is the OracleGuard's (and stale_feed's) business
            p = to_wad(primary, dec)
            s = None
            if m.feed_secondary:
                raw = word(answers[1], 1, signed=True)
                s = to_wad(raw, dec) if raw is not None and raw > 0 else None
            first = min(touched, key=lambda lg: (lg.tx_index, lg.log_index)) if touched else None
            tx = event.tx(first.tx_hash) if first else None
            base = {
                "market": m.symbol,
                "scope": m.scope,
                "market_id": m.id,
                "price": p,
                "secondary": s,
                "contract": m.feed_primary,
            }
            feeds_apart = s is not None and bps(s, p) > cfg.max_feed_deviation_bps
            if feeds_apart:
                out.append(
                    self.finding(
                        event,
                        f"{m.symbol} feeds disagree by {bps(s, p) / 100:.2f}% ({p / WAD:,.2f} vs {s / WAD:,.2f})",
                        tx_hash=first.tx_hash if first else None,
                        subject=m.feed_primary,
                        actor=tx.sender if tx else None,
                        discriminator=f"{m.symbol}:feeds",
                        details={**base, "deviation_bps": bps(s, p), "reference": "secondary"},
                    )
                )
            twap = pool_twap(view, m, event, cfg.twap_blocks)
            if twap is None or twap[0] <= 0 or twap[1] <= 0:
                continue
            # Judged against the nearer of the pool's TWAP and spot: in a genuine fast move the arbitraged
            # spot follows the feeds while the TWAP lags (no anomaly); a feed pushed off the market is far
            # from both, and a flash-moved spot alone is answered by the TWAP.
            dev = min(bps(p, twap[0]), bps(p, twap[1]))
            if dev <= cfg.max_twap_deviation_bps:
                continue
            agreed = s is not None and not feeds_apart
            out.append(
                self.finding(
                    event,
                    f"{m.symbol} oracle {p / WAD:,.2f} is {dev / 100:.2f}% away from the pool (TWAP "
                    f"{twap[0] / WAD:,.2f}, spot {twap[1] / WAD:,.2f})"
                    + (" (both feeds agree: corroborated, the guard accepts it)" if agreed else ""),
                    tx_hash=first.tx_hash if first else None,
                    subject=m.feed_primary,
                    actor=tx.sender if tx else None,
                    discriminator=f"{m.symbol}:twap",
                    severity=Severity.CRITICAL if agreed else self.level,
                    details={**base, "twap": twap[0], "spot": twap[1], "deviation_bps": dev, "reference": "twap"},
                )
            )
        return out

    # -- references: a feed against a pool's TWAP (seconds) and a peer, every block, on crossing ------
    def _ref_state(self, view: ChainView, block: Block) -> dict[str, Any]:
        """Per-block readings (memoized): each feed's price, peer and age, each pool's cumulative price."""

        def compute(b: Block) -> dict[str, Any]:
            out: dict[str, Any] = {"ts": b.timestamp}
            for name, ref in self.config.references.items():
                feed, pool = view.protocol.resolve(ref.feed), view.protocol.resolve(ref.pool)
                reads = [(feed, LATEST, b.number)] + [(pool, sel(s), b.number) for s in POOL_READS]
                if ref.peer:
                    reads.append((view.protocol.resolve(ref.peer), LATEST, b.number))
                answers = view.call_many(reads)
                cum = pool_cumulative(answers[1:4], b.timestamp) or (0, 0)
                peer = word(answers[4], 1, signed=True) if ref.peer else 0
                answer = word(answers[0], 1, signed=True) or 0
                out[name] = {
                    "price": to_wad(max(answer, 0), ref.decimals),
                    "peer": to_wad(max(peer or 0, 0), ref.decimals),
                    "updated_at": word(answers[0], 3) or 0,
                    "spot": cum[1],
                    "cum": cum[0],
                }
            return out

        return view.history.derive(block, "oracle_reference", compute)

    def _ref_deviations(self, view: ChainView, block: Block) -> dict[str, tuple[int, int, dict[str, Any]]]:
        """Per reference: (bps beyond its threshold, the price it was judged against, readings). The nearer
        of the pool's TWAP over ``twap_seconds`` and its spot against ``max_twap_deviation_bps``; a peer (tighter:
        ``max_feed_deviation_bps``, two feeds of one asset agree) when it is further beyond."""
        cfg = self.config
        now = self._ref_state(view, block)
        window = view.history.window(block, seconds=cfg.twap_seconds)
        first = self._ref_state(view, window[0]) if len(window) > 1 else None
        out = {}
        for name in cfg.references:
            cur = now[name]
            ref = cur["spot"]
            if first is not None and now["ts"] > first["ts"]:
                ref = (cur["cum"] - first[name]["cum"]) // (now["ts"] - first["ts"])
            if ref <= 0 or cur["price"] <= 0:
                continue
            if cur["spot"] > 0 and bps(cur["price"], cur["spot"]) < bps(cur["price"], ref):
                ref = cur["spot"]  # the nearer pool price: a genuine fast move has the spot follow the feed
            over, judged = bps(cur["price"], ref) - cfg.max_twap_deviation_bps, ref
            if cur["peer"] > 0:
                peer_over = bps(cur["price"], cur["peer"]) - cfg.max_feed_deviation_bps
                if peer_over > over:
                    over, judged = peer_over, cur["peer"]
            out[name] = (over, judged, cur)
        return out

    def _references(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        if not cfg.references:
            return []
        now = self._ref_deviations(view, event)
        prev_block = view.history.last
        before = self._ref_deviations(view, prev_block) if prev_block is not None else {}
        out = self._spot_crossings(event, view, prev_block) if cfg.max_spot_deviation_bps and prev_block else []
        for name, (over, ref, cur) in now.items():
            if over <= 0 or (name in before and before[name][0] > 0):
                continue  # within bounds, or already reported when it crossed
            fr = cfg.references[name]
            dev = bps(cur["price"], ref)
            out.append(
                self.finding(
                    event,
                    f"feed {name} is {dev} bps away from its reference",
                    subject=view.protocol.resolve(fr.feed),
                    discriminator=name,
                    details={
                        "feed": name,
                        "market": fr.market,
                        "price": cur["price"],
                        "reference": ref,
                        "deviation_bps": dev,
                        "age_s": event.timestamp - cur["updated_at"],
                    },
                )
            )
        return out

    def _spot_crossings(self, event: Block, view: ChainView, prev: Block) -> list[Finding]:
        """A feed and its pool's spot leave the band an arbitraged pool keeps (``max_spot_deviation_bps``)
        in this block: who moved? A feed that jumped off a pool that stayed (and is off the TWAP too) is
        a pushed price, below any jump or TWAP threshold: HIGH at its first update. A pool that left
        fresh feeds agreeing with each other is a pool anomaly: MEDIUM (reported; the narrow answer
        comes with the TWAP crossing). Reported once per crossing."""
        cfg = self.config
        band = cfg.max_spot_deviation_bps
        now, then = self._ref_state(view, event), self._ref_state(view, prev)
        window = view.history.window(event, seconds=cfg.twap_seconds)
        first = self._ref_state(view, window[0]) if len(window) > 1 else None
        out = []
        for name, fr in cfg.references.items():
            cur, old = now[name], then[name]
            if min(cur["price"], cur["spot"], old["price"], old["spot"]) <= 0:
                continue
            dev = bps(cur["price"], cur["spot"])
            if dev <= band or bps(old["price"], old["spot"]) > band:
                continue  # inside the band, or already outside it before this block
            feed_moved, pool_moved = bps(cur["price"], old["price"]), bps(cur["spot"], old["spot"])
            twap = cur["spot"]
            if first is not None and now["ts"] > first["ts"]:
                twap = (cur["cum"] - first[name]["cum"]) // (now["ts"] - first["ts"])
            details = {
                "feed": name,
                "market": fr.market,
                "price": cur["price"],
                "spot": cur["spot"],
                "twap": twap,
                "deviation_bps": dev,
                "feed_moved_bps": feed_moved,
                "pool_moved_bps": pool_moved,
                "age_s": event.timestamp - cur["updated_at"],
            }
            if feed_moved > pool_moved and twap > 0 and bps(cur["price"], twap) > band:
                out.append(
                    self.finding(
                        event,
                        f"feed {name} moved {feed_moved} bps to {dev} bps off its pool (spot and TWAP), "
                        "which stayed: a pushed price",
                        subject=view.protocol.resolve(fr.feed),
                        discriminator=f"{name}:spot",
                        details={**details, "moved": "feed"},
                    )
                )
            elif pool_moved > feed_moved:
                peer_agrees = not fr.peer or (
                    cur["peer"] > 0 and bps(cur["price"], cur["peer"]) <= cfg.max_feed_deviation_bps
                )
                if not peer_agrees:
                    continue  # feeds apart: the peer check reports it
                out.append(
                    self.finding(
                        event,
                        f"pool of feed {name} moved {pool_moved} bps to {dev} bps off its feed: a pool anomaly",
                        subject=view.protocol.resolve(fr.pool),
                        discriminator=f"{name}:pool",
                        severity=Severity.MEDIUM,
                        details={**details, "moved": "pool"},
                    )
                )
        return out

    def _config_feeds(self, event: Block, view: ChainView, recheck: bool) -> list[Finding]:
        """Feeds declared in the config, each against its own reference (a feed or a V2-style pair)."""
        cfg = self.config
        feeds = feeds_of(view, cfg.feeds)
        if not feeds:
            return []
        updates = updated_feeds(event, feeds)
        out = []
        for address, feed in feeds.items():
            tx_hash = updates.get(address)
            if tx_hash is None and not recheck:
                continue
            r = read(view, feed, event, cfg.twap_blocks)
            if r is None:
                continue
            dev = abs(r.deviation_bps)
            limit = cfg.max_twap_deviation_bps if r.kind == "v2_pool" else cfg.max_feed_deviation_bps
            if dev <= limit:
                continue
            tx = event.tx(tx_hash) if tx_hash else None
            ref = view.protocol.label(view.protocol.resolve(feed.reference or ""))
            out.append(
                self.finding(
                    event,
                    f"{view.protocol.label(address)} {r.price / WAD:,.4f} is {dev / 100:.2f}% away from "
                    f"{ref} {r.reference / WAD:,.4f}" + (" (TWAP)" if r.kind == "v2_pool" else ""),
                    tx_hash=tx_hash,
                    subject=address,
                    actor=tx.sender if tx else None,
                    discriminator="reference",
                    severity=Severity.CRITICAL if dev >= cfg.critical_bps else self.level,
                    details={
                        "feed": address,
                        "contract": address,
                        "price": r.price,
                        "reference": feed.reference,
                        "reference_kind": r.kind,
                        "reference_price": r.reference,
                        "deviation_bps": r.deviation_bps,
                    },
                )
            )
        return out


@register
class StaleFeed(Detector):
    id = "stale_feed"
    severity = Severity.HIGH
    description = "A market's feed has not reported within its heartbeat (reported when it becomes stale)"
    confidence = "high"
    recommendation = "Force the market reduce-only until the feed reports again"

    class Config(DetectorConfig):
        markets: list[str] = Field(default_factory=list)
        heartbeat_s: int | None = Field(default=None, gt=0, description="None: the OracleGuard's per feed")

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        markets = _markets(view, cfg.markets)
        if not markets:
            return []
        guard = view.protocol.address_of("oracle_guard")
        reads: list[tuple[str, bytes, int | None]] = []
        for m in markets:
            reads.append((m.feed_primary, LATEST, event.number))
            reads.append((m.feed_secondary or m.feed_primary, LATEST, event.number))
            if cfg.heartbeat_s is None and guard:
                reads.append((guard, call_data("configOf(bytes32)", m.id), event.number))
        answers = view.call_many(reads)
        window = view.history.window(event, blocks=2)
        prev = window[0] if window[0].number == event.number - 1 else None
        out: list[Finding] = []
        k = 0
        for m in markets:
            prim, sec = answers[k], answers[k + 1]
            k += 2
            beats = (cfg.heartbeat_s, cfg.heartbeat_s)
            if cfg.heartbeat_s is None and guard:
                conf = answers[k]
                k += 1
                beats = (word(conf, 1), word(conf, 7))
            for which, ans, beat, feed in (
                ("primary", prim, beats[0], m.feed_primary),
                ("secondary", sec, beats[1], m.feed_secondary),
            ):
                if feed is None or beat is None or beat == 0:
                    continue
                updated = word(ans, 3)
                if updated is None:
                    continue
                age = event.timestamp - updated
                if age <= beat:
                    continue
                if prev is not None and prev.timestamp - updated > beat:
                    continue  # already stale in the previous block: reported then
                out.append(
                    self.finding(
                        event,
                        f"{m.symbol} {which} feed is stale: last answer {age}s ago (heartbeat {beat}s)",
                        subject=feed,
                        discriminator=f"{m.symbol}:{which}",
                        details={
                            "market": m.symbol,
                            "scope": m.scope,
                            "market_id": m.id,
                            "feed": feed,
                            "age_s": age,
                            "heartbeat_s": beat,
                            "contract": m.feed_primary,
                        },
                    )
                )
        return out
