"""Price feeds of any protocol, each checked against the reference named in the config.

A contract with ``kind = "feed"`` (Chainlink-style: ``latestRoundData``, ``decimals``) and
``reference = <name or address>`` is compared with its reference at the feed's updates: another
Chainlink-style feed (its latest answer), or a Uniswap-V2-style pair (the TWAP from
``price0CumulativeLast`` / ``price1CumulativeLast`` and ``getReserves`` over ``twap_blocks``, the
side the feed prices set by ``reference_base``). Prices are integers in 1e18 units.

- ``oracle_deviation`` (see ``oracle.py``) reports one update far from the reference.
- ``oracle_drift`` reports many small ones: a CUSUM over |feed - reference| in bps, less an
  allowance for honest tracking error, alarms when the sum passes a threshold. A feeder key swinging
  the price a little at a time (each move under the per-update threshold) is caught this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from bastion.watch.detectors.abi import ANSWER_UPDATED, sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.protocol import ContractInfo
from bastion.watch.view import ChainView

LATEST = sel("latestRoundData()")
DECIMALS = sel("decimals()")
RESERVES = sel("getReserves()")
CUM = {"token0": sel("price0CumulativeLast()"), "token1": sel("price1CumulativeLast()")}
TOKEN = {"token0": sel("token0()"), "token1": sel("token1()")}
Q112 = 2**112
WAD = 10**18


def to_wad(answer: int, decimals: int) -> int:
    return answer * 10 ** (18 - decimals) if decimals <= 18 else answer // 10 ** (decimals - 18)


@dataclass(frozen=True)
class Reading:
    price: int  # the feed's answer, 1e18 units
    reference: int  # the reference's price, 1e18 units
    kind: str  # "feed" or "v2_pool"

    @property
    def deviation_bps(self) -> int:
        """Signed: (feed - reference) in bps of the reference."""
        return (self.price - self.reference) * 10_000 // self.reference


def updated_feeds(block: Block, feeds: dict[str, ContractInfo]) -> dict[str, str]:
    """Feed address -> the first successful transaction of ``block`` that updated it."""
    out: dict[str, str] = {}
    for tx in block.txs:
        if tx.status == 0:
            continue
        for lg in tx.logs:
            if lg.address in feeds and lg.topic0 == ANSWER_UPDATED and lg.address not in out:
                out[lg.address] = tx.hash
    return out


def _feed_price(view: ChainView, feed: str, block: int) -> int | None:
    latest, dec = view.call_many([(feed, LATEST, block), (feed, DECIMALS, block)])
    answer, decimals = word(latest, 1, signed=True), word(dec, 0)
    if answer is None or answer <= 0:
        return None
    return to_wad(answer, 8 if decimals is None else decimals)


def _pair_cumulative(view: ChainView, pair: str, side: str, block: Block) -> tuple[int, int] | None:
    """(cumulative price of ``side`` at the block's timestamp, spot) as UQ112x112, Uniswap V2 style."""
    cum, res = view.call_many([(pair, CUM[side], block.number), (pair, RESERVES, block.number)])
    c, r0, r1, last = word(cum), word(res, 0), word(res, 1), word(res, 2)
    if c is None or r0 is None or r1 is None or last is None or r0 == 0 or r1 == 0:
        return None
    spot = (r1 * Q112) // r0 if side == "token0" else (r0 * Q112) // r1
    return c + spot * max(0, (block.timestamp % 2**32) - last), spot


def pair_price(view: ChainView, pair: str, side: str, block: Block, twap_blocks: int) -> int | None:
    """The pair's TWAP (spot when the window is empty) of ``side`` in the other token, 1e18 units,
    adjusted for both tokens' decimals."""
    now = _pair_cumulative(view, pair, side, block)
    if now is None:
        return None
    window = view.history.window(block, blocks=twap_blocks + 1)
    first = window[0]
    price_q = now[1]
    if first.number < block.number and block.timestamp > first.timestamp:
        then = _pair_cumulative(view, pair, side, first)
        if then is not None:
            price_q = (now[0] - then[0]) // (block.timestamp - first.timestamp)
    other = "token1" if side == "token0" else "token0"
    t_base, t_quote = view.call_many([(pair, TOKEN[side], block.number), (pair, TOKEN[other], block.number)])
    dec = view.call_many(
        [
            ("0x" + t.to_bytes(32, "big")[12:].hex(), DECIMALS, block.number)
            for t in (word(t_base) or 0, word(t_quote) or 0)
        ]
    )
    d_base, d_quote = word(dec[0]), word(dec[1])
    if d_base is None or d_quote is None:
        return None
    return price_q * WAD * 10**d_base // (Q112 * 10**d_quote)


def is_pair(view: ChainView, address: str, block: int) -> bool:
    (res,) = view.call_many([(address, RESERVES, block)])
    return word(res, 2) is not None


def read(view: ChainView, feed: ContractInfo, block: Block, twap_blocks: int) -> Reading | None:
    """The feed's price and its reference's at ``block``; None when either cannot be read."""
    price = _feed_price(view, feed.address, block.number)
    if price is None or feed.reference is None:
        return None
    ref = view.protocol.resolve(feed.reference)
    if is_pair(view, ref, block.number):
        reference = pair_price(view, ref, feed.reference_base, block, twap_blocks)
        kind = "v2_pool"
    else:
        reference = _feed_price(view, ref, block.number)
        kind = "feed"
    if reference is None or reference <= 0:
        return None
    return Reading(price, reference, kind)


def feeds_of(view: ChainView, chosen: list[str]) -> dict[str, ContractInfo]:
    picked = {view.protocol.resolve(c) for c in chosen}
    return {f.address: f for f in view.protocol.feeds if not picked or f.address in picked}


@register
class OracleDrift(Detector):
    id = "oracle_drift"
    severity = Severity.HIGH
    confidence = "medium"
    description = (
        "A feed keeps moving away from its reference by small steps: a CUSUM of |feed - reference| (less an "
        "allowance) over its updates passes a threshold, though no single update does"
    )
    recommendation = "Check who holds the feeder key; restrict the markets priced by the feed"

    class Config(DetectorConfig):
        feeds: list[str] = Field(default_factory=list, description="feed names or addresses; empty: every feed")
        allowance_bps: int = Field(default=100, gt=0, le=10_000, description="honest tracking error per update")
        threshold_bps: int = Field(default=1_000, gt=0, le=1_000_000, description="CUSUM alarm level")
        jump_bps: int = Field(default=500, gt=0, le=10_000, description="larger updates: oracle_deviation's")
        window_blocks: int = Field(default=200, gt=0, le=100_000)
        twap_blocks: int = Field(default=10, gt=0, le=10_000)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        feeds = feeds_of(view, cfg.feeds)
        if not feeds:
            return []
        now = updated_feeds(event, feeds)
        out: list[Finding] = []
        for address, tx_hash in now.items():
            feed = feeds[address]

            def deviation(b: Block, feed: ContractInfo = feed) -> int | None:
                if feed.address not in updated_feeds(b, {feed.address: feed}):
                    return None
                r = read(view, feed, b, cfg.twap_blocks)
                return None if r is None else r.deviation_bps

            s, alarm, steps, total = 0, False, 0, 0
            for b in view.history.window(event, blocks=cfg.window_blocks):
                d = view.history.derive(b, f"feed_dev:{address}:{cfg.twap_blocks}", deviation)
                alarm = False
                if d is None or abs(d) > cfg.jump_bps:
                    continue
                s = max(0, s + abs(d) - cfg.allowance_bps)
                steps = steps + 1 if s > 0 else 0
                alarm = s > cfg.threshold_bps
                if alarm:
                    total, s = s, 0  # reset: a new alarm needs as much evidence again
            if not alarm:
                continue
            tx = event.tx(tx_hash)
            ref = view.protocol.label(view.protocol.resolve(feed.reference or ""))
            out.append(
                self.finding(
                    event,
                    f"{view.protocol.label(address)} drifts from {ref}: {steps} updates summing "
                    f"{total / 100:.2f}% beyond the {cfg.allowance_bps / 100:.2f}% allowance",
                    tx_hash=tx_hash,
                    subject=address,
                    actor=tx.sender if tx else None,
                    discriminator="drift",
                    details={"feed": address, "reference": feed.reference, "cusum_bps": total, "updates": steps},
                )
            )
        return out
