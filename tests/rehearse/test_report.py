"""The summary's target logic on hand-made outcomes (no chain)."""

from __future__ import annotations

from bastion.rehearse.chain import GUARD_ERRORS, TxRecord, decode_error
from bastion.rehearse.report import preserved_for_chart, summarize
from bastion.rehearse.scenarios.base import Outcome
from bastion.rehearse.world import USD, Level


def _attack(key: str, level: str, at_risk: int, lost: int, **kw) -> Outcome:
    o = Outcome(key, level, "attack", value_at_risk=at_risk * USD, value_lost=lost * USD, **kw)
    o.first_malicious_block = 100
    return o


def test_value_weighted_ratio_and_missed_targets() -> None:
    outs = [
        _attack("a", "none", 1_000, 1_000),
        _attack("a", "all", 1_000, 0, first_finding_block=100),
        _attack("b", "none", 100, 100),
        _attack("b", "all", 100, 60, first_finding_block=103),
        Outcome("calm", "all", "benign", trips=1, guard_events=["5: pause"], honest_paid_in_full=True),
    ]
    s = summarize(outs)
    assert s["attacks"] == 2
    assert s["value_preserved_ratio"] == round(1 - 60 / 1_100, 4)
    assert s["attacks_detected_within_one_block"] == 1
    assert s["benign_false_trips"] == 1
    assert not s["targets_met"]
    text = " ".join(s["missed"])
    assert "b: not detected within one block" in text and "calm: 1 false trip" in text


def test_all_targets_met() -> None:
    outs = [
        _attack("a", "none", 1_000, 900),
        _attack("a", "all", 1_000, 10, first_finding_block=101),
        Outcome("calm", "all", "benign", honest_paid_in_full=True),
    ]
    s = summarize(outs)
    assert s["value_preserved_ratio"] == 0.99 and s["targets_met"] and s["missed"] == []


def test_freeze_scenarios_compare_time_not_value() -> None:
    none = Outcome("rogue", "none", "attack", freeze_hours=160.0, freeze_horizon_hours=168.0)
    full = Outcome("rogue", "all", "attack", freeze_hours=24.0, freeze_horizon_hours=168.0, first_finding_block=5)
    none.first_malicious_block = full.first_malicious_block = 5
    assert preserved_for_chart(full) > preserved_for_chart(none)
    s = summarize([none, full])
    assert s["attacks_better_than_none"] == 1 and s["value_preserved_ratio"] is None


def test_levels_and_guard_reasons() -> None:
    assert Level.ALL.onchain and Level.ALL.watchtower and not Level.NONE.onchain and not Level.ONCHAIN.watchtower
    rec = TxRecord("x", "y", True, ok=False, reason="InvariantViolated")
    assert rec.guard_said_no and "OperationPaused" in GUARD_ERRORS
    assert decode_error(None) == "" and decode_error("0x12") == "revert"


def test_griefing_delay_and_guardian_only_liquidations_are_targets() -> None:
    grief_none = Outcome("whale", "none", "attack", griefer=True, honest_max_delay_h=30.0)
    grief_all = Outcome("whale", "all", "attack", griefer=True, honest_max_delay_h=0.5, first_finding_block=5)
    tighten = _attack("tighten", "all", 1_000, 10, first_finding_block=100, guardian_only_liquidations=2)
    grief_none.first_malicious_block = grief_all.first_malicious_block = 5
    s = summarize([grief_none, grief_all, tighten, _attack("tighten", "none", 1_000, 500)])
    assert s["griefing_max_honest_delay_h"] == 0.5 and s["guardian_only_liquidations"] == 2
    assert preserved_for_chart(grief_all) > preserved_for_chart(grief_none)
    text = " ".join(s["missed"])
    assert "guardian's tightening: tighten (2)" in text and "griefer" not in text
    grief_all.honest_max_delay_h = 24.0
    assert "griefer made an honest withdrawal wait 24.0 h" in " ".join(summarize([grief_all])["missed"])


def test_markdown_says_what_each_defence_did() -> None:
    from bastion.rehearse.report import defences_did

    o = _attack("a", "all", 1_000, 0, first_finding_block=100)
    o.guard_events = ["101: pause  (router)", "101: pause  (router)", "102: forced reduce-only  (oracle_guard)"]
    o.watchtower_actions = ["101: pause (oracle-withdrawals) mined"]
    o.humans = [{"at": 1, "what": "co-signed and executed the watchtower's Safe proposal"}]
    o.protective = "watchtower pause (oracle-withdrawals)"
    row = defences_did([o]).splitlines()[-1]
    assert "pause  (router) (x2)" in row and "pause (oracle-withdrawals) mined" in row and "co-signed" in row
