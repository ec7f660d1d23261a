"""Who a remedy names (``bastion.respond.remedy.profit_takers``), from the engine's trade events and the
watchtower's flagged prices: only closes at a price beyond the bound from both pool references, each
capped at what that price paid beyond the nearer one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.respond.remedy import FlaggedPrice, flagged_prices, profit_takers

WAD = 10**18
MARKET = "0x" + b"ETH-PERP".ljust(32, b"\0").hex()
OTHER = "0x" + b"BTC-PERP".ljust(32, b"\0").hex()


class _Events:
    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.logs = logs

    def get_logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        return [lg for lg in self.logs if from_block <= lg["blockNumber"] <= to_block]


class _Call:
    def call(self) -> int:
        return 10**12  # 6-decimal collateral


class _Engine:
    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.events = type("E", (), {"PositionChanged": _Events(logs)})()
        self.functions = type("F", (), {"collateralScale": staticmethod(lambda: _Call())})()


def _trade(block: int, account: str, delta: float, price: float, new_size: float, market: str = MARKET):
    return {
        "blockNumber": block,
        "args": {
            "account": account,
            "market": bytes.fromhex(market[2:]),
            "delta": int(delta * WAD),
            "price": int(price * WAD),
            "newSize": int(new_size * WAD),
            "realized": 1,
        },
    }


FLAGGED = [FlaggedPrice(MARKET, 100, twap=3_000 * WAD, spot=3_000 * WAD)]


def test_a_close_at_the_flagged_price_is_capped_at_the_gap() -> None:
    logs = [_trade(101, "0xattacker", -10, 3_240, 0)]  # a long of 10 sold 8% above the pool
    assert profit_takers(_Engine(logs), FLAGGED, 200, 300) == {"0xattacker": 2_400 * 10**6}


def test_partial_closes_shorts_and_flips_count_only_the_closed_size() -> None:
    logs = [
        _trade(101, "0xa", -4, 3_240, 6),  # 4 of a 10 long sold high
        _trade(102, "0xb", 5, 2_760, 0),  # a short of 5 bought back 8% low
        _trade(103, "0xc", -15, 3_240, -5),  # a long of 10 flipped to short 5: 10 closed
    ]
    got = profit_takers(_Engine(logs), FLAGGED, 200, 300)
    assert got == {"0xa": 960 * 10**6, "0xb": 1_200 * 10**6, "0xc": 2_400 * 10**6}


def test_nobody_named_near_a_reference_on_the_losing_side_or_before_a_flag() -> None:
    logs = [
        _trade(101, "0xnear", -10, 3_060, 0),  # 2%: within the bound
        _trade(101, "0xloser", 10, 3_240, 20),  # an open, nothing closed
        _trade(101, "0xshort", 10, 3_240, 0),  # a short bought back high: no gain from the price
        _trade(99, "0xearly", -10, 3_240, 0),  # before the first flagged block
        _trade(101, "0xother", -10, 3_240, 0, OTHER),  # another market
    ]
    assert profit_takers(_Engine(logs), FLAGGED, 200, 300) == {}


def test_a_real_move_follows_the_pool_spot_so_nobody_is_named() -> None:
    crash = [FlaggedPrice(MARKET, 100, twap=3_000 * WAD, spot=2_450 * WAD)]  # the pool went with the market
    logs = [_trade(101, "0xhonest", 10, 2_400, 0)]  # a short closed at the crashed feed price
    assert profit_takers(_Engine(logs), crash, 200, 300) == {}


@dataclass
class _Finding:
    detector: str
    block_number: int | None
    details: dict[str, Any]


def test_flagged_prices_take_the_twap_findings_only() -> None:
    rows = [
        _Finding("oracle_deviation", 7, {"reference": "twap", "market_id": MARKET.upper(), "twap": 5, "spot": 6}),
        _Finding("oracle_deviation", 5, {"reference": "secondary", "market_id": MARKET}),
        _Finding("guard_event", 6, {}),
        _Finding("oracle_deviation", 3, {"reference": "twap", "market_id": MARKET, "twap": 1, "spot": 2}),
    ]
    assert [(p.block, p.twap, p.spot) for p in flagged_prices(rows)] == [(3, 1, 2), (7, 5, 6)]
    assert flagged_prices(rows)[1].market_id == MARKET
