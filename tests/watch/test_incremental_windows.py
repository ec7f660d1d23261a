"""Running window totals (outflow_rate's gross/net sums, account_extraction's per-account takes) equal a
fresh sum over the window at every block: block-count and seconds windows, gaps in the history, a
reorg that drops blocks. The reference sums below add up each block's movements directly."""

from __future__ import annotations

import pytest

from bastion.benchmarks.throughput import (
    GOVERNANCE_ABI,
    PROTOCOL_ABI,
    TOKEN,
    VAULT,
    _protocol_and_answers,
    synthetic_blocks,
    with_spam,
)
from bastion.watch.decode import AbiRegistry
from bastion.watch.detectors import REGISTRY
from bastion.watch.detectors.flows import block_flow_features
from bastion.watch.ingest import normalize_block
from bastion.watch.view import History, StaticView


def _blocks(n: int, skip: set[int]):
    registry = AbiRegistry()
    registry.register(GOVERNANCE_ABI)
    registry.register(PROTOCOL_ABI)
    raw = with_spam(synthetic_blocks(n, 12, seed=3), 5)
    return [normalize_block(1, r, rc, tr, registry) for r, rc, tr in raw if int(r["number"], 16) not in skip]


def _reference(history: History, upto, view, blocks=None, seconds=None) -> dict[str, tuple[int, int]]:
    lo = upto.number - blocks if blocks is not None else -1
    t0 = upto.timestamp - seconds if seconds is not None else -1
    out: dict[str, tuple[int, int]] = {}
    for b in [*history, upto]:
        if b.number > upto.number or b.number <= lo or b.timestamp <= t0:
            continue
        for token, (net, gross, _, _) in block_flow_features(b, view).items():
            g, n = out.get(token, (0, 0))
            out[token] = (g + gross, n + net)
    return out


@pytest.mark.parametrize(
    ("window", "skip"),
    [({"window_blocks": 7}, set()), ({"window_blocks": 7}, {9, 10, 11, 30}), ({"window_seconds": 11}, {5, 20})],
)
def test_running_window_sums_equal_a_fresh_sum(window, skip):
    protocol, answers = _protocol_and_answers()
    history = History(64)
    view = StaticView(1, protocol, history, erc20={(TOKEN, VAULT): 10**18}, answers=answers)
    (outflow,) = REGISTRY.build({"outflow_rate": {**window, "max_fraction_bps": 500}})
    (extraction,) = REGISTRY.build({"account_extraction": {"window_blocks": 7}})
    blocks = _blocks(45, skip)
    for i, block in enumerate(blocks):
        if i == 30:  # a reorg drops the last three blocks: the totals start over from the window
            history.drop_from(blocks[27].number)
        view.block_number = block.number
        outflow.run(block, view)
        extraction.run(block, view)
        got = history.peek(block, outflow._name)
        want = _reference(history, block, view, window.get("window_blocks"), window.get("window_seconds"))
        assert {t: v for t, v in got.items() if v != (0, 0)} == {t: v for t, v in want.items() if v != (0, 0)}
        takes, _ = extraction._window_totals(view, block, history.window(block, blocks=7))
        fresh: dict[tuple[str, str], int] = {}
        for b in history.window(block, blocks=7):
            for key, v in extraction._per_block(view, b).items():
                fresh[key] = fresh.get(key, 0) + v
        assert takes == {k: v for k, v in fresh.items() if v}
        history.append(block)
