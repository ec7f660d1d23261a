"""What the risk engine reads from the chain: feed history, AMM depth, open interest, the insurance fund,
network congestion, and the current value and rules of every parameter it may change.

Feed history
    The primary feed's rounds, from ``AnswerUpdated`` logs (one ``eth_getLogs`` per chunk, incremental
    between cycles) or by walking ``getRoundData`` back from the latest round (any AggregatorV3 feed;
    at most ``max_rounds`` calls, also incremental). Rounds are resampled to an hourly grid (the last
    answer at or before each hour) and turned into log returns.
Fallback
    A fresh deployment has one round per feed. When the chain gives fewer than ``min_history_hours``
    hourly returns or fewer than ``min_rounds`` distinct rounds in them, the bundled hourly BTC/USD
    history (2018-2022, the last ``history_hours`` returns) is used instead, and the observation says
    so in its notes. The two are never spliced: a volatility fit sees one market's returns only.
Integers
    Liquidity and open interest are collateral base units (6 decimals); prices 1e18 USD; sizes 1e18.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from eth_utils import keccak
from web3 import Web3

from bastion.chain.contracts import contract_at
from bastion.protocol.client import Protocol
from bastion.protocol.deploy import param_key
from bastion.risk.config import EstimatorConfig
from bastion.risk.estimators import CongestionInputs, LiquidityInputs

HOUR = 3_600
REGISTRY_PARAMS = (
    "initialMarginBps",
    "maintenanceMarginBps",
    "maxOpenInterest",
    "tradingFeeBps",
    "liquidationPenaltyBps",
    "maxFundingRatePerDay",
)
ANSWER_UPDATED = "0x" + keccak(text="AnswerUpdated(int256,uint256,uint256)").hex()


@dataclass(frozen=True)
class RegistryParam:
    """One registry key as the chain has it now."""

    market: str
    name: str
    key: bytes
    effective: int
    base: int
    override_value: int
    override_until: int
    min: int
    max: int
    max_step: int
    min_interval: int
    max_ttl: int
    last_change: int
    higher_is_tighter: bool

    def live_override(self, now: int) -> bool:
        return now < self.override_until


@dataclass(frozen=True)
class LimiterState:
    """The vault's outflow limiter for its collateral asset (``Vault.assetConfig``)."""

    asset: str
    limit_bps: int
    window: int
    floor: int
    cooldown: int
    mode: int
    credit_shift: int
    liquidity: int

    def config_tuple(self, limit_bps: int | None = None) -> tuple[int, int, int, int, int, int]:
        bps = self.limit_bps if limit_bps is None else limit_bps
        return (bps, self.window, self.floor, self.cooldown, self.mode, self.credit_shift)


@dataclass(frozen=True)
class OracleState:
    """One market's OracleGuard configuration (``OracleGuard.configOf``)."""

    primary: str
    primary_heartbeat: int
    secondary: str
    secondary_heartbeat: int
    max_deviation_bps: int
    max_jump_bps: int
    jump_interval: int
    jump_cooldown: int

    def feed_config(self, max_jump_bps: int | None = None) -> tuple:
        jump = self.max_jump_bps if max_jump_bps is None else max_jump_bps
        return (
            self.primary,
            self.primary_heartbeat,
            self.secondary,
            self.secondary_heartbeat,
            self.max_deviation_bps,
            jump,
            self.jump_interval,
            self.jump_cooldown,
        )


@dataclass(frozen=True)
class MarketObservation:
    """Everything the policy needs about one market at one block."""

    symbol: str
    block: int
    timestamp: int
    price: int  # 1e18 USD (OracleGuard.viewPrice)
    reduce_only: bool
    returns_hourly: np.ndarray
    history_source: str  # "chain" or "bundled"
    rounds_seen: int
    liquidity: LiquidityInputs
    congestion: CongestionInputs
    long_oi: int  # size units
    short_oi: int
    params: dict[str, RegistryParam]
    oracle: OracleState
    notes: tuple[str, ...] = field(default_factory=tuple)


def depth_1pct(quote_reserve: int) -> int:
    """Quote notional that moves a constant-product pool's price by 1%: y * (sqrt(1.01) - 1), rounded down
    (price = y/x and k = xy, so buying base with dq of quote multiplies the price by ((y + dq)/y)^2)."""
    if quote_reserve <= 0:
        return 0
    return math.isqrt(quote_reserve * quote_reserve * 101 // 100) - quote_reserve


def hourly_returns(rounds: list[tuple[int, int]], now: int, hours: int) -> tuple[np.ndarray, int]:
    """Log returns on an hourly grid ending at the last whole hour before ``now``, from rounds
    ``(updatedAt, answer)``; at most ``hours`` of them, none before the first round. Also returns how many
    distinct rounds fall inside the span used."""
    pts = sorted((t, a) for t, a in rounds if a > 0 and t <= now)
    if len(pts) < 2:
        return np.zeros(0), len(pts)
    times = np.array([t for t, _ in pts], dtype=np.int64)
    answers = np.array([a for _, a in pts], dtype=np.float64)
    end = now - now % HOUR
    start = max(int(times[0]) + (-int(times[0])) % HOUR, end - hours * HOUR)
    if end - start < HOUR:
        return np.zeros(0), len(pts)
    grid = np.arange(start, end + 1, HOUR, dtype=np.int64)
    idx = np.searchsorted(times, grid, side="right") - 1
    prices = answers[idx]
    used = int(np.unique(idx).size)
    return np.diff(np.log(prices)), used


class ChainReader:
    """Reads observations for the markets of one deployment; keeps the feed history between calls."""

    def __init__(self, protocol: Protocol, cfg: EstimatorConfig) -> None:
        self.p = protocol
        self.w3: Web3 = protocol.w3
        self.cfg = cfg
        self._rounds: dict[str, dict[int, tuple[int, int]]] = {}  # feed -> round id -> (updatedAt, answer)
        self._log_from: dict[str, int] = {}
        self._bundled: np.ndarray | None = None

    # -- feed history ----------------------------------------------------------------------------
    def feed_rounds(self, feed_address: str) -> list[tuple[int, int]]:
        """Every round seen so far of ``feed_address``, as ``(updatedAt, answer)``."""
        cache = self._rounds.setdefault(feed_address, {})
        if self.cfg.history_source == "events":
            self._fetch_logs(feed_address, cache)
        else:
            self._fetch_rounds(feed_address, cache)
        return [cache[k] for k in sorted(cache)]

    def _fetch_logs(self, feed: str, cache: dict[int, tuple[int, int]]) -> None:
        head = self.w3.eth.block_number
        start = self._log_from.get(feed, self.p.manifest.deployment_block)
        while start <= head:
            stop = min(head, start + self.cfg.log_chunk_blocks - 1)
            logs = self.w3.eth.get_logs(
                {"address": feed, "topics": [ANSWER_UPDATED], "fromBlock": start, "toBlock": stop}
            )
            for log in logs:
                answer = int.from_bytes(bytes(log["topics"][1]), "big", signed=True)
                round_id = int.from_bytes(bytes(log["topics"][2]), "big")
                updated_at = int.from_bytes(bytes(log["data"])[:32], "big")
                cache[round_id] = (updated_at, answer)
            start = stop + 1
        self._log_from[feed] = head + 1
        self._trim(cache)

    def _fetch_rounds(self, feed: str, cache: dict[int, tuple[int, int]]) -> None:
        agg = contract_at(self.w3, "AggregatorV3Interface", feed)
        latest = agg.functions.latestRoundData().call()
        round_id = int(latest[0])
        known = max(cache) if cache else 0
        fetched = 0
        while round_id > known and fetched < self.cfg.max_rounds:
            try:
                rid, answer, _, updated_at, _ = agg.functions.getRoundData(round_id).call()
            except Exception:  # a missing round (phase boundary, pruned history): stop walking back
                break
            if updated_at == 0:
                break
            cache[int(rid)] = (int(updated_at), int(answer))
            round_id -= 1
            fetched += 1
        self._trim(cache)

    def _trim(self, cache: dict[int, tuple[int, int]]) -> None:
        while len(cache) > self.cfg.max_rounds:
            del cache[min(cache)]

    def bundled_returns(self) -> np.ndarray:
        if self._bundled is None:
            from bastion.sim.data import btc_hourly_log_returns

            self._bundled = np.array(btc_hourly_log_returns()[-self.cfg.history_hours :])
        return self._bundled

    def returns(self, symbol: str, now: int) -> tuple[np.ndarray, str, int, tuple[str, ...]]:
        feed = self.p.markets[symbol]["feed_primary"]
        rounds = self.feed_rounds(feed)
        r, used = hourly_returns(rounds, now, self.cfg.history_hours)
        if r.size >= self.cfg.min_history_hours and used >= self.cfg.min_rounds:
            return r, "chain", used, (f"{r.size} hourly returns from {used} feed rounds on chain",)
        note = (
            f"chain history too short ({r.size} hourly returns, {used} rounds; need "
            f"{self.cfg.min_history_hours} h and {self.cfg.min_rounds} rounds): bundled BTC/USD hourly "
            f"returns used (last {self.cfg.history_hours} h of 2018-2022)"
        )
        return self.bundled_returns(), "bundled", used, (note,)

    # -- liquidity and congestion ----------------------------------------------------------------
    def congestion(self) -> tuple[CongestionInputs, tuple[str, ...]]:
        notes: list[str] = []
        hist = self.w3.eth.fee_history(self.cfg.congestion_blocks, "latest", [])
        base_fee = int(hist["baseFeePerGas"][-1])
        ratios = [float(x) for x in hist["gasUsedRatio"]]
        ratio = min(1.0, max(0.0, float(np.mean(ratios)) if ratios else 0.0))
        pending = self._pending_count()
        if pending is None:
            notes.append("the node serves neither txpool_status nor txpool_content: pending pool taken as 0")
            pending = 0
        return CongestionInputs(base_fee, ratio, pending), tuple(notes)

    def _pending_count(self) -> int | None:
        try:
            status = self.w3.provider.make_request("txpool_status", [])
            if "result" in status:
                res = status["result"]
                return int(res.get("pending", "0x0"), 16) + int(res.get("queued", "0x0"), 16)
        except Exception:  # the method is optional in JSON-RPC
            pass
        try:
            content = self.w3.provider.make_request("txpool_content", [])
            if "result" in content:
                return sum(len(by_nonce) for by_nonce in content["result"].get("pending", {}).values())
        except Exception:
            pass
        return None

    def liquidity(self, symbol: str, price: int) -> tuple[LiquidityInputs, int, int]:
        idx = self.p.markets[symbol]["index"]
        market = self.p.engine.functions.marketAt(idx).call()
        long_oi, short_oi = int(market[1]), int(market[2])
        pool = self.p.pool(symbol)
        quote = int(pool.functions.reserve1().call())
        fund = int(self.p.engine.functions.insuranceFund().call())
        scale = self._collateral_scale()
        oi_notional = (long_oi + short_oi) * price // 10**18 // scale
        return LiquidityInputs(depth_1pct(quote), oi_notional, fund), long_oi, short_oi

    def _collateral_scale(self) -> int:
        decimals = int(self.p.manifest.parameters.get("usdc_decimals", 6))
        return 10 ** (18 - decimals)

    # -- parameters ------------------------------------------------------------------------------
    def registry_param(self, symbol: str, name: str) -> RegistryParam:
        key = param_key(self.p.market_id(symbol), name)
        effective, base, ov, until = self.p.registry.functions.state(key).call()
        r = self.p.registry.functions.rulesOf(key).call()
        # Rules: (min, max, lastChange, higherIsTighter, maxStep, minInterval, maxTtl)
        return RegistryParam(
            market=symbol,
            name=name,
            key=key,
            effective=int(effective),
            base=int(base),
            override_value=int(ov),
            override_until=int(until),
            min=int(r[0]),
            max=int(r[1]),
            last_change=int(r[2]),
            higher_is_tighter=bool(r[3]),
            max_step=int(r[4]),
            min_interval=int(r[5]),
            max_ttl=int(r[6]),
        )

    def oracle_state(self, symbol: str) -> OracleState:
        c = self.p.oracle.functions.configOf(self.p.market_id(symbol)).call()
        # Config: (primary, primaryHeartbeat, primaryDecimals, maxDeviationBps, maxJumpBps, jumpInterval,
        #          secondary, secondaryHeartbeat, secondaryDecimals, jumpCooldown)
        return OracleState(
            primary=c[0],
            primary_heartbeat=int(c[1]),
            secondary=c[6],
            secondary_heartbeat=int(c[7]),
            max_deviation_bps=int(c[3]),
            max_jump_bps=int(c[4]),
            jump_interval=int(c[5]),
            jump_cooldown=int(c[9]),
        )

    def limiter_state(self) -> LimiterState:
        asset = self.p.usdc.address
        c = self.p.vault.functions.assetConfig(asset).call()
        # AssetConfig: (limitBps, window, floor, cooldown, mode, creditShift)
        liq = int(self.p.vault.functions.trackedLiquidity(asset).call())
        return LimiterState(asset, int(c[0]), int(c[1]), int(c[2]), int(c[3]), int(c[4]), int(c[5]), liq)

    # -- one observation -------------------------------------------------------------------------
    def observe(self, symbol: str, block: dict[str, Any] | None = None) -> MarketObservation:
        block = block or self.w3.eth.get_block("latest")
        now = int(block["timestamp"])
        price, reduce_only = self.p.oracle.functions.viewPrice(self.p.market_id(symbol)).call()
        returns, source, used, notes = self.returns(symbol, now)
        liquidity, long_oi, short_oi = self.liquidity(symbol, int(price))
        congestion, cnotes = self.congestion()
        params = {name: self.registry_param(symbol, name) for name in REGISTRY_PARAMS}
        return MarketObservation(
            symbol=symbol,
            block=int(block["number"]),
            timestamp=now,
            price=int(price),
            reduce_only=bool(reduce_only),
            returns_hourly=returns,
            history_source=source,
            rounds_seen=used,
            liquidity=liquidity,
            congestion=congestion,
            long_oi=long_oi,
            short_oi=short_oi,
            params=params,
            oracle=self.oracle_state(symbol),
            notes=notes + cnotes,
        )
