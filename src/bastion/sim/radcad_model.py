"""The clearinghouse model of ``bastion.sim.model`` written as an ordinary radCAD model: the baseline of
the simulator benchmark, and a cross-check of the vectorized engine (the tests compare them).

One radCAD run is one price path (the paths are a parameter sweep, one subset each). State is a dict of
per-account NumPy arrays updated step by step by policies and state-update functions, the way radCAD
models are usually written; radCAD's defaults (deepcopy of state between functions) are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bastion.sim.model import Book, ProtocolParams, SimResult

State = dict[str, Any]
Params = dict[str, Any]


# --- block 1: the market moves -------------------------------------------------------------------------


def p_market(params: Params, substep: int, history: list, state: State) -> dict[str, float]:
    t = state["timestep"] + 1
    impact = state["impact"] * (1.0 - params["impact_resilience"])
    fundamental = float(params["prices"][t])
    return {"fundamental": fundamental, "impact": impact, "mark": fundamental * np.exp(impact)}


def s_fundamental(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "fundamental", policy["fundamental"]


def s_impact_decay(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "impact", policy["impact"]


def s_mark(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "mark", policy["mark"]


def s_min_mark(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "min_mark", min(state["min_mark"], policy["mark"])


def s_max_mark(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "max_mark", max(state["max_mark"], policy["mark"])


# --- block 2: liquidators act ----------------------------------------------------------------------------


def p_liquidate(params: Params, substep: int, history: list, state: State) -> dict[str, Any]:
    size, coll, entry = state["size"], state["collateral"], params["entry"]
    mark = state["mark"]
    mm = params["maintenance_margin"]
    with np.errstate(divide="ignore", invalid="ignore"):
        l_long = np.where(size > 0, (size * entry - coll) / (size * (1 - mm)), -np.inf)
        l_short = np.where(size < 0, (coll - size * entry) / (-size * (1 + mm)), np.inf)
    liq = (mark < l_long) | (mark > l_short)
    if not liq.any():  # the usual step: nobody to liquidate
        return {
            "new_size": size,
            "new_collateral": coll,
            "liquidated": liq,
            "d_impact": 0.0,
            "penalty": 0.0,
            "debt": 0.0,
            "liquidated_notional": 0.0,
        }
    notional = np.abs(size) * mark
    queued = notional[liq].sum()
    fill = min(1.0, params["liquidator_capacity"] / queued) if queued > 0 else 1.0
    frac = np.where(liq, fill, 0.0)
    frac[liq & ((1 - frac) * notional < params["dust_notional"])] = 1.0
    closed = size * frac
    flow = (closed[liq] * mark).sum()
    d_impact = -0.01 / params["depth_1pct"] * flow
    x = mark * np.exp(0.5 * d_impact)
    equity_x = coll + size * (x - entry)
    penalty = np.where(
        liq, np.minimum(params["liquidation_penalty"] * np.abs(closed) * x, np.maximum(equity_x, 0.0)), 0.0
    )
    new_coll = coll + closed * (x - entry) - penalty
    closed_out = liq & (frac >= 1.0)
    new_size = np.where(closed_out, 0.0, size - closed)
    debt = np.where(closed_out & (new_coll < 0), -new_coll, 0.0)
    new_coll = new_coll + debt
    return {
        "new_size": new_size,
        "new_collateral": new_coll,
        "liquidated": liq,
        "d_impact": d_impact,
        "penalty": float(penalty.sum()),
        "debt": float(debt.sum()),
        "liquidated_notional": float(np.abs(closed[liq]).sum() * mark),
    }


def s_size(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "size", policy["new_size"]


def s_collateral(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "collateral", policy["new_collateral"]


def s_touched(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "touched", state["touched"] | policy["liquidated"]


def s_impact_liq(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "impact", state["impact"] + policy["d_impact"]


def s_insurance_fund(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    fund = state["insurance_fund"] + (1 - params["liquidator_share"]) * policy["penalty"]
    return "insurance_fund", fund - min(fund, policy["debt"])


def s_socialized(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    fund = state["insurance_fund"] + (1 - params["liquidator_share"]) * policy["penalty"]
    return "socialized_loss", state["socialized_loss"] + policy["debt"] - min(fund, policy["debt"])


def s_bad_debt(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "bad_debt", state["bad_debt"] + policy["debt"]


def s_penalties(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "penalties", state["penalties"] + policy["penalty"]


def s_liq_notional(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "liquidated_notional", state["liquidated_notional"] + policy["liquidated_notional"]


def s_liq_count(params: Params, substep: int, history: list, state: State, policy: dict) -> tuple:
    return "liquidations", state["liquidations"] + int(policy["liquidated"].sum())


STATE_UPDATE_BLOCKS = [
    {
        "policies": {"market": p_market},
        "variables": {
            "fundamental": s_fundamental,
            "impact": s_impact_decay,
            "mark": s_mark,
            "min_mark": s_min_mark,
            "max_mark": s_max_mark,
        },
    },
    {
        "policies": {"liquidate": p_liquidate},
        "variables": {
            "size": s_size,
            "collateral": s_collateral,
            "touched": s_touched,
            "impact": s_impact_liq,
            "insurance_fund": s_insurance_fund,
            "socialized_loss": s_socialized,
            "bad_debt": s_bad_debt,
            "penalties": s_penalties,
            "liquidated_notional": s_liq_notional,
            "liquidations": s_liq_count,
        },
    },
]


def build_simulation(prices: np.ndarray, book: Book, params: ProtocolParams) -> Any:
    """A radCAD ``Simulation``: one subset per price path (rows of ``prices``)."""
    from radcad import Model, Simulation

    s0 = float(prices[0, 0])
    initial_state = {
        "fundamental": s0,
        "impact": 0.0,
        "mark": s0,
        "min_mark": s0,
        "max_mark": s0,
        "size": book.size.copy(),
        "collateral": book.collateral.copy(),
        "touched": np.zeros(book.n_accounts, dtype=bool),
        "insurance_fund": params.insurance_fund,
        "socialized_loss": 0.0,
        "bad_debt": 0.0,
        "penalties": 0.0,
        "liquidated_notional": 0.0,
        "liquidations": 0,
    }
    system_params = {
        "prices": [row for row in prices],  # the sweep: one subset per path
        "entry": [book.entry],
        "maintenance_margin": [params.maintenance_margin],
        "liquidation_penalty": [params.liquidation_penalty],
        "liquidator_share": [params.liquidator_share],
        "liquidator_capacity": [params.liquidator_capacity],
        "depth_1pct": [params.depth_1pct],
        "impact_resilience": [params.impact_resilience],
        "dust_notional": [params.dust_notional],
    }
    model = Model(initial_state=initial_state, state_update_blocks=STATE_UPDATE_BLOCKS, params=system_params)
    return Simulation(model=model, timesteps=prices.shape[1] - 1, runs=1)


def run_radcad(prices: np.ndarray, book: Book, params: ProtocolParams, *, deepcopy: bool = True) -> SimResult:
    """Run the radCAD model (single process) and reduce each path's final state to a ``SimResult``."""
    from radcad import Backend, Engine

    sim = build_simulation(prices, book, params)
    sim.engine = Engine(backend=Backend.SINGLE_PROCESS, deepcopy=deepcopy, drop_substeps=True)
    records = sim.run()
    n_steps = prices.shape[1] - 1
    finals = {r["subset"]: r for r in records if r["timestep"] == n_steps}
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "bad_debt",
            "socialized_loss",
            "insurance_fund_end",
            "liquidated_notional",
            "liquidations",
            "accounts_liquidated",
            "penalties",
            "min_mark_ratio",
            "max_mark_ratio",
        )
    }
    for i in range(prices.shape[0]):
        st = finals[i]
        s0 = float(prices[i, 0])
        # Horizon: negative equity of open accounts is a deficit too (as in the vectorized engine).
        equity = st["collateral"] + st["size"] * (st["mark"] - book.entry)
        residual = float(np.maximum(-equity, 0.0).sum())
        cover = min(st["insurance_fund"], residual)
        out["bad_debt"].append(st["bad_debt"] + residual)
        out["socialized_loss"].append(st["socialized_loss"] + residual - cover)
        out["insurance_fund_end"].append(st["insurance_fund"] - cover)
        out["liquidated_notional"].append(st["liquidated_notional"])
        out["liquidations"].append(st["liquidations"])
        out["accounts_liquidated"].append(int(st["touched"].sum()))
        out["penalties"].append(st["penalties"])
        out["min_mark_ratio"].append(min(1.0, st["min_mark"] / s0))
        out["max_mark_ratio"].append(max(1.0, st["max_mark"] / s0))
    arrays = {k: np.asarray(v) for k, v in out.items()}
    return SimResult(insurance_fund_start=params.insurance_fund, **arrays)
