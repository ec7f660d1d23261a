"""Exploit rehearsal on a real embedded chain, at reduced size: guards, watchtower and the CLI.

The whole corpus runs in ``make rehearse``; these runs take a few seconds each.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bastion.chain.artifacts import ArtifactError, load_artifact
from bastion.rehearse.chain import GUARD_ERRORS
from bastion.rehearse.harness import run_one
from bastion.rehearse.scenarios import SCENARIOS


@pytest.fixture(scope="module", autouse=True)
def _artifacts() -> None:
    try:
        load_artifact("VulnerableSpotMarket")
        load_artifact("RoundingDrain")
    except ArtifactError as exc:
        pytest.skip(f"forge artifacts missing: {exc}")


def test_flash_swap_attack_drains_the_unguarded_market_and_the_guard_reverts_it() -> None:
    off = run_one("spot-oracle", "none", scale=0.3)
    on = run_one("spot-oracle", "onchain", scale=0.3)
    assert off.value_at_risk > 0 and on.value_at_risk > 0
    assert off.value_lost > off.value_at_risk // 2  # the bug is real: most of the lenders' money is gone
    assert off.attacker_gain > 0
    assert on.value_lost == 0 and on.attacker_gain == 0
    # reverted in the attack's own transaction, by a Bastion guard (the invariant guard or the limiter)
    assert on.protect_blocks == 0 and on.protective.startswith("guard refused the attack")
    assert any(name in on.protective for name in GUARD_ERRORS)


def test_slow_drain_passes_the_guards_and_the_watchtower_stops_it_within_a_block() -> None:
    guards = run_one("rounding-drain", "onchain", scale=0.2)
    watch = run_one("rounding-drain", "watchtower", scale=0.2)
    assert guards.value_lost > 0  # per-transaction guards do not see a rounding drain
    assert watch.detected_within_one_block
    assert watch.protect_blocks is not None and watch.protect_blocks <= 1
    assert watch.value_lost < guards.value_lost
    assert watch.preserved is not None and watch.preserved > 0.95


def test_busy_trading_trips_nothing_with_every_defence() -> None:
    out = run_one("busy-trading", "all", scale=0.1)
    assert out.kind == "benign"
    assert out.trips == 0 and out.actions == 0 and out.honest_blocked == 0
    assert out.honest_paid_in_full is True
    assert out.reaction_wall_ms is not None  # the watchtower processed every block


def test_cli_prints_a_table_writes_json_and_ends_with_a_json_line(tmp_path) -> None:
    from bastion.cli import app

    out_json = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["rehearse", "spot-oracle", "--defences", "onchain", "--scale", "0.2", "--json", str(out_json)]
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    for key in ("attacks", "value_preserved_ratio", "attacks_detected_within_one_block", "benign_false_trips",
                "honest_funds_lost", "griefing_max_honest_delay_h", "guardian_only_liquidations"):  # fmt: skip
        assert key in last
    doc = json.loads(out_json.read_text())
    assert [r["scenario"] for r in doc["runs"]] == ["spot-oracle"]
    assert out_json.with_suffix(".png").stat().st_size > 1000


def test_cli_refuses_unknown_scenarios_and_levels() -> None:
    from bastion.cli import app

    bad = CliRunner().invoke(app, ["rehearse", "no-such-attack"])
    assert bad.exit_code == 2 and "unknown scenario" in bad.output
    bad = CliRunner().invoke(app, ["rehearse", "spot-oracle", "--defences", "maybe"])
    assert bad.exit_code == 2 and "unknown defence level" in bad.output


def test_corpus_has_the_required_scenarios() -> None:
    kinds = {k: cls.kind for k, cls in SCENARIOS.items()}
    assert sum(1 for k in kinds.values() if k == "attack") >= 9
    assert sum(1 for k in kinds.values() if k == "benign") >= 3
    for cls in SCENARIOS.values():
        assert cls.__doc__ and cls.incident, cls.key
