"""Protocol detectors and actions without a chain: solvency shortfall and drift over fixed answers, the
isolation-forest anomaly model, the price-move arithmetic, and the validation of protocol actions."""

from __future__ import annotations

import random
from types import MappingProxyType

import pytest

from bastion.tower.config import validate_config
from bastion.watch.config import ConfigError
from bastion.watch.detectors import REGISTRY
from bastion.watch.detectors.abi import sel
from bastion.watch.detectors.manipulation import move_bps
from bastion.watch.events import Block, Log, Tx
from bastion.watch.protocol import build_protocol
from bastion.watch.view import History, StaticView

VAULT, ENGINE, ROUTER, USDC = ("0x" + c * 40 for c in "abcd")
ORACLE = "0x" + "12" * 20
USER = "0x" + "99" * 20
NET = {"local": {"rpc_urls": ["http://127.0.0.1:8545"]}}


def _protocol():
    names = {"vault": VAULT, "engine": ENGINE, "router": ROUTER, "usdc": USDC, "oracle_guard": ORACLE}
    contracts = {n: {"address": a, "protected": n in ("vault", "engine", "router")} for n, a in names.items()}
    return build_protocol("t", 1, contracts, {"USDC": {"address": USDC, "decimals": 6}})


def _block(n: int, txs: tuple[Tx, ...] = (), fork: int = 0) -> Block:
    """Block ``n``; ``fork`` > 0 gives another block at the same height (another hash)."""
    return Block(1, n, "0x" + f"{fork:032x}{n:032x}", "0x" + f"{n - 1:064x}", 1_700_000_000 + 2 * n, None, txs)


def _word(v: int) -> bytes:
    return v.to_bytes(32, "big", signed=True)


class _BlockView(StaticView):
    """Fixed answers per block number: (vault balance, outstanding claims, obligations)."""

    def __init__(self, proto, history, n, states):
        super().__init__(1, proto, history, n)
        self.states = states

    def call_many(self, calls):
        out = []
        for to, data, block in calls:
            bal, claims, owed = self.states[block]
            value = {VAULT: claims, ENGINE: owed if data == sel("obligations()") else 0, USDC: bal}[to]
            out.append(_word(value))
        return out


def test_solvency_shortfall_is_critical_once():
    det = REGISTRY.build({"solvency": {"max_drift": 10}})[0]
    proto, history = _protocol(), History(8)
    states = {4: (1_000, 0, 998), 5: (1_000, 100, 1_048), 6: (1_000, 100, 1_049)}
    # block 5: claims 100 queued and obligations up 50 outside any inflow: free 900 < 1,048
    found = {f.discriminator: f for f in det.run(_block(5), _BlockView(proto, history, 5, states))}
    assert set(found) == {"shortfall", "drift"}
    assert found["shortfall"].severity.label == "critical" and found["shortfall"].details["shortfall"] == 148
    assert found["drift"].details["drift"] == -150 and found["shortfall"].subject == VAULT
    assert det.run(_block(6), _BlockView(proto, history, 6, states)) == []  # still short, 1 unit of drift: quiet
    fine = {7: (1_000, 0, 998), 8: (1_001, 0, 998)}
    assert det.run(_block(8), _BlockView(proto, history, 8, fine)) == []


def _transfer(n: int, i: int, src: str, dst: str, amount: int) -> Tx:
    h = "0x" + f"{n:032x}{i:032x}"
    lg = Log(
        USDC,
        ("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef", "0x", "0x"),
        b"",
        i,
        h,
        i,
        n,
        "0x" + f"{n:064x}",
        "Transfer",
        MappingProxyType({"from": src, "to": dst, "value": amount}),
    )
    return Tx(
        h, src, VAULT, 0, b"", 0, 0, 2, block_number=n, block_hash="0x" + f"{n:064x}", index=i, status=1, logs=(lg,)
    )


def test_isolation_forest_flags_an_outlier_block_only():
    det = REGISTRY.build(
        {
            "flow_anomaly": {
                "model": "isolation_forest",
                "window_blocks": 60,
                "min_history": 20,
                "refit_blocks": 10,
                "min_amount": {"USDC": 1_000},
            }
        }
    )[0]
    proto, history = _protocol(), History(128)
    rng = random.Random(1)
    for n in range(1, 61):  # ordinary traffic: a few deposits and withdrawals of 1-5k per block
        txs = tuple(
            _transfer(n, i, VAULT, USER, rng.randint(1, 5) * 1_000)
            if rng.random() < 0.5
            else _transfer(n, i, USER, VAULT, rng.randint(1, 5) * 1_000)
            for i in range(rng.randint(1, 3))
        )
        history.append(_block(n, txs))
    view = StaticView(1, proto, history, 61)
    ordinary = _block(61, (_transfer(61, 0, VAULT, USER, 4_000),))
    assert det.run(ordinary, view) == []
    busy = _block(61, tuple(_transfer(61, i, VAULT, USER, 3_000) for i in range(2)), fork=1)  # as busy as before
    assert det.run(busy, view) == []
    drain = _block(61, (_transfer(61, 0, VAULT, USER, 400_000), _transfer(61, 1, VAULT, USER, 350_000)), fork=2)
    (f,) = det.run(drain, view)
    assert (
        f.details["model"] == "isolation_forest" and f.details["score"] >= 0.6 and f.details["net_outflow"] == 750_000
    )


def test_price_move_is_exact_integer_maths():
    assert move_bps((1_000, 3_000_000), (1_000, 3_000_000)) == 0
    assert move_bps((1_000, 3_000_000), (800, 3_750_000)) == 5_625  # 3000 -> 4687.5 per unit
    assert move_bps((1_000, 3_000_000), (1_250, 2_400_000)) == 3_600  # 3000 -> 1920


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "pause_scope", "ops": ["CLOSE"]}, "op CLOSE is an exit: the guardian can never pause it"),
        ({"type": "pause_scope", "ops": ["FLY"]}, "unknown op 'FLY'"),
        ({"type": "pause_scope", "duration": 90_000}, "duration: must be <= 86400"),
        ({"type": "force_reduce_only", "duration": 0}, "duration: must be > 0"),
        ({"type": "emergency_tighten"}, "parameter: required"),
    ],
)
def test_protocol_actions_are_validated(action, expected):
    data = {
        "networks": NET,
        "protocol": {"manifest": "deployment.json"},
        "keys": {"guardian": {"env": "K"}},
        "playbooks": [{"name": "p", "on": ["oracle_deviation"], "actions": [action]}],
    }
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    msg = str(err.value)
    assert msg.startswith("config error: playbooks[0].actions[0].") and expected in msg and "\n" not in msg


def test_playbook_when_filters_on_details():
    data = {
        "networks": NET,
        "playbooks": [
            {
                "name": "hold",
                "on": ["guard_event"],
                "when": {"event": ["AssetRateLimitBreached", "FundsLocked"]},
                "actions": [{"type": "notify"}],
            }
        ],
    }
    pb = validate_config(data).playbooks[0]
    assert pb.accepts({"event": "FundsLocked"}) and not pb.accepts({"event": "Paused"}) and not pb.accepts(None)


def test_throughput_bench_runs_every_detector():
    import io
    import json

    from bastion.benchmarks.throughput import _detectors, run

    # Every detector the watchtower ships (plug-ins registered by other packages, e.g. the rehearsal's,
    # are theirs to measure), except the pending-transaction one, which sees no mined blocks.
    shipped = {i for i, cls in REGISTRY.items().items() if cls.__module__.startswith("bastion.watch.detectors")}
    assert {d.id for d in _detectors()} == shipped - {"pending_sensitive_call"}
    out = io.StringIO()
    result = run(n_blocks=10, txs_per_block=10, repeats=1, out=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == result
    assert result["transactions"] == 100 and result["tx_per_s"] > 0
    assert result["spam_dust_per_block"] == 200 and result["spam_block_ms_ratio"] > 0


def test_account_extraction_incremental_window_equals_a_full_pass():
    # The window totals carried from block to block equal a fresh pass over the window, at every block.
    from bastion.benchmarks import throughput as tb
    from bastion.watch.decode import AbiRegistry
    from bastion.watch.detectors.extraction import AccountExtraction
    from bastion.watch.ingest import normalize_block
    from bastion.watch.view import History, StaticView

    registry = AbiRegistry()
    protocol, answers = tb._protocol_and_answers()
    history = History(64)
    view = StaticView(1, protocol, history, answers=answers)
    det = AccountExtraction(AccountExtraction.Config(window_blocks=7))
    for raw, receipts, traces in tb.synthetic_blocks(30, 20):
        block = normalize_block(1, raw, receipts, traces, registry)
        window = history.window(block, blocks=7)
        takes, net = det._window_totals(view, block, window)
        full: dict = {}
        for b in window:
            for key, v in det._per_block(view, b).items():
                full[key] = full.get(key, 0) + v
        assert takes == {k: v for k, v in full.items() if v}
        assert sum(net.values()) == sum(full.values())
        history.append(block)
