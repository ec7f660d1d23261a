"""A vectorized model of the reference clearinghouse's accounts in one market.

State is held as (paths, accounts) arrays; the only Python loop is over time steps. Per step:

1. The price impact left by earlier liquidations decays (``impact_resilience`` of it per step) and the
   mark price is the exogenous (fundamental) price times exp(impact).
2. An account is liquidatable when its equity ``collateral + size * (mark - entry)`` is below the
   maintenance requirement ``maintenance_margin * |size| * mark`` (equivalently, the mark is beyond the
   account's liquidation price).
3. Liquidators absorb at most ``liquidator_capacity`` of notional per step and path. When more is
   liquidatable, every liquidatable account is closed pro rata by the same fraction (positions left
   below ``dust_notional`` are closed whole).
4. The net liquidation flow moves the log price by ``-0.01 * flow / depth_1pct`` (``depth_1pct``: the
   USD notional that moves the price 1%). Positions close at the average price of that walk, and the
   impact persists into the next steps' mark price: this feedback is what makes cascades.
5. The liquidation penalty (``liquidation_penalty`` of closed notional, paid out of remaining equity)
   goes ``liquidator_share`` to the liquidator and the rest to the insurance fund.
6. A fully closed account with negative collateral is bad debt: the insurance fund covers it first,
   the remainder is socialized. At the horizon, open accounts with negative equity are counted as bad
   debt too (marked to market).

Only paths where some account is past its liquidation price do the (accounts)-wide work in a step: a
per-path trigger price (the highest long / lowest short liquidation price) screens the others. The
result is identical to processing every path every step (``dense=True``, used by the tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ProtocolParams:
    """Clearinghouse parameters as fractions and USD (floats: this is a simulation)."""

    initial_margin: float = 0.05
    maintenance_margin: float = 0.025
    liquidation_penalty: float = 0.01
    liquidator_share: float = 0.5
    insurance_fund: float = 500_000.0
    liquidator_capacity: float = 2_000_000.0
    depth_1pct: float = 5_000_000.0
    impact_resilience: float = 0.1
    dust_notional: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 < self.maintenance_margin <= self.initial_margin < 1.0:
            raise ValueError("need 0 < maintenance_margin <= initial_margin < 1")
        if not 0.0 <= self.liquidation_penalty < 1.0 or not 0.0 <= self.liquidator_share <= 1.0:
            raise ValueError("liquidation_penalty must be in [0, 1) and liquidator_share in [0, 1]")
        if self.insurance_fund < 0 or self.liquidator_capacity <= 0 or self.depth_1pct <= 0:
            raise ValueError("insurance_fund >= 0, liquidator_capacity > 0 and depth_1pct > 0 required")
        if not 0.0 <= self.impact_resilience <= 1.0 or self.dust_notional < 0:
            raise ValueError("impact_resilience must be in [0, 1] and dust_notional >= 0")


@dataclass(frozen=True)
class Book:
    """The accounts at the start of the simulation, shared by every path: arrays of shape (accounts,).

    ``size`` is signed (positive long, negative short) in units of the market's base asset.
    """

    size: np.ndarray
    entry: np.ndarray
    collateral: np.ndarray

    def __post_init__(self) -> None:
        n = self.size.shape
        if len(n) != 1 or self.entry.shape != n or self.collateral.shape != n:
            raise ValueError("size, entry and collateral must be 1-D arrays of the same length")

    @property
    def n_accounts(self) -> int:
        return int(self.size.size)

    def open_interest(self, price: float) -> float:
        return float(np.abs(self.size).sum() * price)


def make_book(
    n_accounts: int,
    *,
    rng: np.random.Generator,
    price: float,
    params: ProtocolParams,
    long_fraction: float = 0.7,
    open_interest: float = 50_000_000.0,
    min_leverage: float = 2.0,
    entry_dispersion: float = 0.02,
) -> Book:
    """A random but plausible book: leverage log-uniform between ``min_leverage`` and 1/initial_margin,
    sizes lognormal (a few whales), entries scattered around ``price`` and collateral sized from the
    leverage at entry (every account met the initial margin when it opened).
    """
    if n_accounts <= 0:
        raise ValueError("n_accounts must be positive")
    max_lev = 1.0 / params.initial_margin
    lev = np.exp(rng.uniform(np.log(min(min_leverage, max_lev)), np.log(max_lev), n_accounts))
    weight = rng.lognormal(0.0, 1.0, n_accounts)
    notional = open_interest * weight / weight.sum()
    side = np.where(rng.random(n_accounts) < long_fraction, 1.0, -1.0)
    entry = price * np.exp(rng.normal(0.0, entry_dispersion, n_accounts))
    size = side * notional / entry
    collateral = notional / lev
    return Book(size=size, entry=entry, collateral=collateral)


@dataclass
class SimResult:
    """Per-path outcomes (arrays of shape (paths,)); USD amounts."""

    bad_debt: np.ndarray
    socialized_loss: np.ndarray
    insurance_fund_end: np.ndarray
    insurance_fund_start: float
    liquidated_notional: np.ndarray
    liquidations: np.ndarray  # account-steps in which an account was (partly) liquidated
    accounts_liquidated: np.ndarray  # distinct accounts touched by a liquidation
    penalties: np.ndarray
    min_mark_ratio: np.ndarray  # lowest mark / start price
    max_mark_ratio: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_paths(self) -> int:
        return int(self.bad_debt.size)

    @property
    def insurance_exhausted(self) -> np.ndarray:
        return self.socialized_loss > 0.0

    @staticmethod
    def concat(parts: list[SimResult]) -> SimResult:
        if not parts:
            raise ValueError("nothing to concatenate")
        names = [n for n in SimResult.__dataclass_fields__ if n not in ("insurance_fund_start", "extra")]
        merged = {n: np.concatenate([getattr(p, n) for p in parts]) for n in names}
        extra_keys = set(parts[0].extra)
        extra = {k: np.concatenate([p.extra[k] for p in parts]) for k in extra_keys}
        return SimResult(**merged, insurance_fund_start=parts[0].insurance_fund_start, extra=extra)


def liquidation_prices(
    size: np.ndarray, collateral: np.ndarray, entry: np.ndarray, mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mark prices below which a long (above which a short) is liquidatable; -inf / +inf when N/A.

    Long (s > 0):  c + s (P - e) < mm s P      <=>  P < (s e - c) / (s (1 - mm))
    Short (s < 0): c + s (P - e) < -mm s P     <=>  P > (c - s e) / (-s (1 + mm))
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        se = size * entry
        l_long = np.where(size > 0.0, (se - collateral) / (size * (1.0 - mm)), -np.inf)
        l_short = np.where(size < 0.0, (collateral - se) / (-size * (1.0 + mm)), np.inf)
    return l_long, l_short


def simulate(prices: np.ndarray, book: Book, params: ProtocolParams, *, dense: bool = False) -> SimResult:
    """Run the book through every price path. ``prices``: fundamental prices, shape (paths, steps + 1)."""
    prices = np.asarray(prices, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[1] < 2:
        raise ValueError("prices must have shape (paths, steps + 1) with at least one step")
    n_paths, n_cols = prices.shape
    n_acc = book.n_accounts
    mm = params.maintenance_margin
    entry = book.entry
    fund_price = np.ascontiguousarray(prices.T)  # (steps + 1, paths): one contiguous row per step

    size = np.broadcast_to(book.size, (n_paths, n_acc)).copy()
    coll = np.broadcast_to(book.collateral, (n_paths, n_acc)).copy()
    touched = np.zeros((n_paths, n_acc), dtype=bool)
    l_long0, l_short0 = liquidation_prices(book.size, book.collateral, entry, mm)
    liq_long = np.broadcast_to(l_long0, (n_paths, n_acc)).copy()
    liq_short = np.broadcast_to(l_short0, (n_paths, n_acc)).copy()
    trig_long = np.full(n_paths, l_long0.max())
    trig_short = np.full(n_paths, l_short0.min())

    impact = np.zeros(n_paths)
    fund = np.full(n_paths, params.insurance_fund)
    bad_debt = np.zeros(n_paths)
    social = np.zeros(n_paths)
    liq_notional = np.zeros(n_paths)
    liq_count = np.zeros(n_paths, dtype=np.int64)
    penalties = np.zeros(n_paths)
    marks = np.empty_like(fund_price)  # (steps + 1, paths); min / max taken once at the end
    marks[0] = fund_price[0]
    s0 = fund_price[0]
    decay = 1.0 - params.impact_resilience
    impact_scale = -0.01 / params.depth_1pct
    insurance_cut = 1.0 - params.liquidator_share
    all_rows = np.arange(n_paths)
    mark = fund_price[0].copy()

    for t in range(1, n_cols):
        impact *= decay
        mark = fund_price[t] * np.exp(impact)
        marks[t] = mark
        if dense:
            rows = all_rows
        else:
            rows = np.flatnonzero((mark < trig_long) | (mark > trig_short))
            if rows.size == 0:
                continue
        n_rows = rows.size
        m = mark[rows]
        sub_long = liq_long[rows]
        sub_short = liq_short[rows]
        mcol = m[:, None]
        # From here on only the (path, account) pairs being liquidated are touched.
        ri, ai = np.nonzero((mcol < sub_long) | (mcol > sub_short))
        gi = rows[ri]
        s = size[gi, ai]
        c = coll[gi, ai]
        e = entry[ai]
        mk = m[ri]
        notional = np.abs(s) * mk
        queued = np.bincount(ri, notional, minlength=n_rows)
        with np.errstate(divide="ignore"):
            fill = np.minimum(1.0, params.liquidator_capacity / queued)  # inf -> 1 when nothing queued
        frac = fill[ri]
        frac[(1.0 - frac) * notional < params.dust_notional] = 1.0
        closed = s * frac
        flow = np.bincount(ri, closed * mk, minlength=n_rows)  # > 0: liquidators sell (longs closed)
        d_impact = impact_scale * flow
        x = (m * np.exp(0.5 * d_impact))[ri]  # execution price: the average of the impact walk
        equity_x = c + s * (x - e)
        penalty = np.minimum(params.liquidation_penalty * np.abs(closed) * x, np.maximum(equity_x, 0.0))
        c_new = c + closed * (x - e) - penalty
        closed_out = frac >= 1.0
        s_new = np.where(closed_out, 0.0, s - closed)
        debt = np.where(closed_out & (c_new < 0.0), -c_new, 0.0)
        c_new += debt
        step_debt = np.bincount(ri, debt, minlength=n_rows)
        step_pen = np.bincount(ri, penalty, minlength=n_rows)

        f = fund[rows] + insurance_cut * step_pen
        cover = np.minimum(f, step_debt)
        fund[rows] = f - cover
        social[rows] += step_debt - cover
        bad_debt[rows] += step_debt
        penalties[rows] += step_pen
        liq_notional[rows] += np.bincount(ri, np.abs(closed), minlength=n_rows) * m
        liq_count[rows] += np.bincount(ri, minlength=n_rows)
        impact[rows] += d_impact
        size[gi, ai] = s_new
        coll[gi, ai] = c_new
        touched[gi, ai] = True
        nl, ns = liquidation_prices(s_new, c_new, e, mm)
        liq_long[gi, ai] = nl
        liq_short[gi, ai] = ns
        sub_long[ri, ai] = nl
        sub_short[ri, ai] = ns
        trig_long[rows] = sub_long.max(axis=1)
        trig_short[rows] = sub_short.min(axis=1)

    min_ratio = np.minimum(marks.min(axis=0) / s0, 1.0)
    max_ratio = np.maximum(marks.max(axis=0) / s0, 1.0)
    # Horizon: open accounts with negative equity are a deficit the insurance fund must meet too.
    equity = coll + size * (mark[:, None] - entry)
    residual = np.maximum(-equity, 0.0).sum(axis=1)
    cover = np.minimum(fund, residual)
    fund -= cover
    social += residual - cover
    bad_debt += residual
    return SimResult(
        bad_debt=bad_debt,
        socialized_loss=social,
        insurance_fund_end=fund,
        insurance_fund_start=params.insurance_fund,
        liquidated_notional=liq_notional,
        liquidations=liq_count,
        accounts_liquidated=touched.sum(axis=1),
        penalties=penalties,
        min_mark_ratio=min_ratio,
        max_mark_ratio=max_ratio,
    )
