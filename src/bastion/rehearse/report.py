"""Rehearsal results: the summary (targets), a rich table, the JSON file, the PNG chart and
docs/rehearsal.md."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from bastion.rehearse.scenarios import SCENARIOS
from bastion.rehearse.scenarios.base import ATTACK, BENIGN, Outcome
from bastion.rehearse.world import USD, Level

TARGET_RATIO = 0.95
TARGET_GRIEF_DELAY_H = 1.0
GRIEF_HORIZON_H = 36.0  # griefing: honest users give up looking after this long (attacks_griefing.PATIENCE_S)


def preserved_for_chart(o: Outcome) -> float | None:
    """Value preserved, or for the rogue guardian (nothing can be taken) the share of time not frozen."""
    if o.freeze_hours is not None and o.freeze_horizon_hours:
        return 1.0 - o.freeze_hours / o.freeze_horizon_hours
    if o.griefer and o.honest_max_delay_h is not None:  # a griefer takes time, not value
        return max(0.0, 1.0 - o.honest_max_delay_h / GRIEF_HORIZON_H)
    return o.preserved


def _by(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], Outcome]:
    return {(o.scenario, o.level): o for o in outcomes}


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The figures the targets are judged on (defences ``all``), plus what was missed and why."""
    by = _by(outcomes)
    attacks = [o for o in outcomes if o.kind == ATTACK and o.level == Level.ALL]
    benign = [o for o in outcomes if o.kind == BENIGN and o.level == Level.ALL]
    at_risk = sum(o.value_at_risk for o in attacks)
    lost = sum(min(o.value_lost, o.value_at_risk) for o in attacks if o.value_at_risk > 0)
    ratio = None if at_risk == 0 else 1.0 - lost / at_risk
    missed: list[str] = []
    if ratio is not None and ratio < TARGET_RATIO:
        worst = sorted((o for o in attacks if o.value_at_risk), key=lambda o: o.value_lost, reverse=True)[:3]
        missed.append(
            f"value preserved {ratio:.1%} < {TARGET_RATIO:.0%}: largest losses "
            + ", ".join(f"{o.scenario} ({o.value_lost / USD:,.0f} USDC)" for o in worst)
        )
    better = 0
    for o in attacks:
        none = by.get((o.scenario, Level.NONE.value))
        if none is None:
            continue
        a, b = preserved_for_chart(o), preserved_for_chart(none)
        if a is not None and b is not None and (a > b or (a == b == 1.0)):
            better += 1  # (a griefer nobody waited for, with or without defences, is not a miss)
        else:
            missed.append(f"{o.scenario}: defences all preserve {a} vs {b} with none (not more)")
    detected = [o for o in attacks if o.detected_within_one_block]
    for o in attacks:
        if not o.detected_within_one_block:
            if o.first_finding_block is None:
                when = "no finding"
            else:
                late = o.first_finding_block - (o.first_malicious_block or 0)
                when = f"first finding ({o.first_finding}) {late} blocks after"
            missed.append(f"{o.scenario}: not detected within one block of its first malicious tx ({when})")
    trips = sum(o.trips for o in benign)
    for o in benign:
        if o.trips:
            missed.append(f"{o.scenario}: {o.trips} false trip(s)/pause(s): {', '.join(o.guard_events[:4])}")
        if o.honest_paid_in_full is False:
            missed.append(f"{o.scenario}: an honest user was not paid in full ({'; '.join(o.notes)})")
    honest_lost = sum(o.honest_lost for o in benign)
    griefs = [o.honest_max_delay_h for o in attacks if o.griefer and o.honest_max_delay_h is not None]
    grief_delay = max(griefs) if griefs else None
    if grief_delay is not None and grief_delay > TARGET_GRIEF_DELAY_H:
        worst = max((o for o in attacks if o.griefer and o.honest_max_delay_h is not None),
                    key=lambda o: o.honest_max_delay_h or 0)  # fmt: skip
        missed.append(
            f"an unprivileged griefer made an honest withdrawal wait {grief_delay:.1f} h > "
            f"{TARGET_GRIEF_DELAY_H:g} h ({worst.scenario})"
        )
    guardian_only = sum(o.guardian_only_liquidations for o in attacks)
    if guardian_only:
        who = ", ".join(f"{o.scenario} ({n})" for o in attacks if (n := o.guardian_only_liquidations))
        missed.append(f"{guardian_only} liquidation(s) made possible only by a guardian's tightening: {who}")
    return {
        "attacks": len(attacks),
        "value_at_risk_usd": at_risk / USD,
        "value_lost_usd": lost / USD,
        "value_preserved_ratio": None if ratio is None else round(ratio, 4),
        "attacks_better_than_none": better,
        "attacks_detected_within_one_block": len(detected),
        "benign_false_trips": trips,
        "benign_designed_delays": sum(o.designed_delays for o in benign),
        "honest_funds_lost": honest_lost / USD,
        "honest_paid_in_full": all(o.honest_paid_in_full for o in benign) if benign else None,
        "griefing_max_honest_delay_h": grief_delay,
        "guardian_only_liquidations": guardian_only,
        "targets_met": not missed,
        "missed": missed,
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _pct2(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _usd(v: int) -> str:
    return f"{v / USD:,.0f}"


def _protect(o: Outcome) -> str:
    if o.protect_blocks is None:
        return "-"
    return f"{o.protect_blocks} blk / {o.protect_seconds} s"


def _detect(o: Outcome) -> str:
    if o.kind != ATTACK:
        return "-"
    if o.first_finding_block is None:
        return "none"
    ref = o.first_malicious_block or o.incident_block or 0
    return f"{o.first_finding_block - ref:+d} blk ({o.first_finding})"


def rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    out = []
    for o in outcomes:
        preserved = _pct(o.preserved)
        if o.freeze_hours is not None:
            preserved = f"{_pct(preserved_for_chart(o))} of time"
        delayed = _usd(o.honest_delayed) if o.kind == BENIGN else "-"
        out.append(
            [
                o.scenario,
                o.level,
                _usd(o.value_at_risk) if o.freeze_hours is None else f"{o.freeze_horizon_hours:.0f} h",
                _usd(o.value_lost) if o.freeze_hours is None else f"{o.freeze_hours:.0f} h frozen",
                _usd(o.attacker_gain),
                preserved,
                _protect(o),
                _detect(o),
                str(o.trips) + (f" (+{o.designed_delays} delay)" if o.designed_delays else ""),
                str(o.honest_blocked),
                delayed,
                _usd(o.honest_lost),
                "-" if o.honest_max_delay_h is None else f"{o.honest_max_delay_h:g} h",
                f"{o.aftermath_hours:g} h" if o.aftermath_hours else "-",
            ]
        )
    return out


HEADERS = [
    "scenario",
    "defences",
    "value at risk",
    "lost",
    "taken",
    "preserved",
    "to protect",
    "detected",
    "trips",
    "honest refused",
    "honest delayed",
    "honest lost",
    "honest wait",
    "after",
]


def table(outcomes: Sequence[Outcome]) -> Table:
    t = Table(title="Exploit rehearsal (USDC; blocks of 1 s unless noted)", show_lines=False)
    for h in HEADERS:
        t.add_column(h, justify="left" if h in ("scenario", "defences", "detected", "to protect") else "right")
    last = None
    for row in rows(outcomes):
        if last is not None and row[0] != last:
            t.add_section()
        last = row[0]
        t.add_row(*row)
    return t


def read_json(path: Path) -> tuple[list[Outcome], dict[str, Any]]:
    """Outcomes and meta of a results file written by ``write_json``."""
    import dataclasses

    doc = json.loads(path.read_text())
    names = {f.name for f in dataclasses.fields(Outcome)}
    outcomes = [Outcome(**{k: v for k, v in run.items() if k in names}) for run in doc["runs"]]
    return outcomes, doc.get("meta", {})


def write_json(path: Path, outcomes: Sequence[Outcome], summary: dict[str, Any], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "summary": summary, "runs": [o.to_json() for o in outcomes]}
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")


def chart(path: Path, outcomes: Sequence[Outcome]) -> None:
    """Grouped bars: value preserved per attack scenario and defence level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = [k for k in dict.fromkeys(o.scenario for o in outcomes if o.kind == ATTACK)]
    levels = [lv.value for lv in Level if any(o.level == lv.value for o in outcomes)]
    if not attacks or not levels:
        return
    by = _by(outcomes)
    width = 0.8 / len(levels)
    colors = {"none": "#b0b0b0", "onchain": "#4c78a8", "watchtower": "#f58518", "all": "#54a24b"}
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(attacks) + 2), 4.5))
    for i, lv in enumerate(levels):
        xs, ys = [], []
        for j, key in enumerate(attacks):
            o = by.get((key, lv))
            v = preserved_for_chart(o) if o else None
            xs.append(j + (i - (len(levels) - 1) / 2) * width)
            ys.append(0.0 if v is None else 100 * v)
        ax.bar(xs, ys, width, label=lv, color=colors.get(lv))
    ax.set_xticks(range(len(attacks)))
    ax.set_xticklabels(attacks, rotation=25, ha="right")
    ax.set_ylabel("value preserved (%)")
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.axhline(95, color="#54a24b", lw=0.8, ls="--")
    ax.set_title(
        "Exploit rehearsal: value preserved per attack and defence level\n(rogue-guardian: share of time not frozen)"
    )
    ax.legend(title="defences", ncol=len(levels), fontsize=8, loc="upper center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _md_table(outcomes: Sequence[Outcome]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows(outcomes):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _compact(items: Sequence[str], limit: int = 6) -> str:
    """'a; b; c (+N more)' with repeats folded ('x (x3)')."""
    counts: dict[str, int] = {}
    for item in items:
        what = item.split(": ", 1)[-1]
        counts[what] = counts.get(what, 0) + 1
    parts = [f"{k} (x{n})" if n > 1 else k for k, n in counts.items()]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def defences_did(outcomes: Sequence[Outcome]) -> str:
    """One line per (scenario, level): what the on-chain guards did, what the watchtower sent, what the
    humans did, and the first protective action."""
    lines = []
    for o in outcomes:
        guards = _compact(o.guard_events) or "nothing"
        wt = _compact(o.watchtower_actions) or "nothing"
        humans = _compact([h.get("what", "") for h in o.humans]) or "nothing"
        first = o.protective or "none"
        lines.append(f"| `{o.scenario}` | {o.level} | {guards} | {wt} | {humans} | {first} |")
    head = "| scenario | defences | on-chain guards | watchtower | humans | first protective action |"
    return head + "\n|---|---|---|---|---|---|\n" + "\n".join(lines)


def markdown(outcomes: Sequence[Outcome], summary: dict[str, Any], meta: dict[str, Any], chart_path: str | None) -> str:
    keys = list(dict.fromkeys(o.scenario for o in outcomes))
    scen = []
    for k in keys:
        cls = SCENARIOS[k]
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        scen.append(f"| `{k}` | {cls.kind} | {cls.incident} | {doc} |")
    notes = []
    for o in outcomes:
        for n in o.notes:
            notes.append(f"- `{o.scenario}` / {o.level}: {n}")
        if o.protective and o.level == Level.ALL.value and o.kind == ATTACK:
            notes.append(f"- `{o.scenario}` / all: first protective action: {o.protective}")
    targets = [
        f"- value preserved over all attacks (value-weighted, defences all): "
        f"**{_pct2(summary['value_preserved_ratio'])}** of {summary['value_at_risk_usd']:,.0f} USDC at risk "
        f"(target >= 95%)",
        f"- attacks preserved more with all defences than with none: **{summary['attacks_better_than_none']} of "
        f"{summary['attacks']}**",
        f"- attacks detected (a finding) within one block of the first malicious transaction: "
        f"**{summary['attacks_detected_within_one_block']} of {summary['attacks']}**",
        f"- false trips and pauses in benign scenarios: **{summary['benign_false_trips']}** "
        f"(limiter delays in the bank run, by design: {summary['benign_designed_delays']})",
        f"- honest funds lost in benign scenarios: **{summary['honest_funds_lost']:,.0f} USDC**; every honest user "
        f"paid in full: **{summary['honest_paid_in_full']}**",
        f"- longest wait of an honest withdrawal caused by an unprivileged griefer: "
        f"**{summary.get('griefing_max_honest_delay_h')} h** (target <= {TARGET_GRIEF_DELAY_H:g} h)",
        f"- liquidations made possible only by a guardian's tightening: "
        f"**{summary.get('guardian_only_liquidations', 0)}** (target 0)",
    ]
    reactions = [o.reaction_wall_ms for o in outcomes if o.reaction_wall_ms is not None]
    if reactions:
        reactions.sort()
        targets.append(
            f"- the watchtower's wall time per block (ingest with traces, detectors, playbooks, relayer): median "
            f"{reactions[len(reactions) // 2]:.0f} ms, worst run median {reactions[-1]:.0f} ms, against 1-s blocks"
        )
    missed = "\n".join(f"- {m}" for m in summary["missed"]) or "- none: every target is met."
    chart_md = f"\n![value preserved per scenario and defence level]({chart_path})\n" if chart_path else ""
    return TEMPLATE.format(
        when=meta.get("finished", ""),
        command=meta.get("command", ""),
        scale=meta.get("scale", 1.0),
        seed=meta.get("seed", ""),
        wall=meta.get("wall_seconds", ""),
        scenarios="\n".join(scen),
        table=_md_table(outcomes),
        did=defences_did(outcomes),
        targets="\n".join(targets),
        missed=missed,
        notes="\n".join(notes) or "- none",
        chart=chart_md,
    )


def write_markdown(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


TEMPLATE = """# Exploit rehearsal

`bastion rehearse` runs attacks modelled on real incidents, and honest-user scenarios, against the
reference protocol and its clearly named vulnerable variants, each on a fresh embedded chain, with the
defences off and on, and measures what each defence saves and how often it gets in honest users' way.
Code: `src/bastion/rehearse/` (harness, scenarios, in-process watchtower), `contracts/rehearsal/`
(vulnerable variants, attack contracts). Everything below is generated by the last run
(`{command}`, scale {scale}, seed {seed}, {wall} s, {when}).

## How a run works
- A fresh anvil per (scenario, defence level), started from a state dump of the deployed reference system.
- Blocks are mined by a stepped clock: every actor submits to the mempool, then ONE block is mined exactly
  1 s (chain time) after the previous one (the crash replay uses 10-minute blocks so the oracle guard's
  hourly jump window sees real time; long waits such as the 48-hour timelock delay are one quiet block).
  Transactions are ordered by fee, so the watchtower (2 gwei tip) lands before a 1-gwei attacker in the
  same block.
- Honest background traffic through the public Router: traders open, adjust and close positions and move
  collateral; the honest feeders push the feeds, each feed by its own signer (heartbeat or 0.5% move); an
  arbitrageur keeps every AMM pool at the market price; a keeper liquidates and rolls each pool's TWAP (the
  OracleGuard's reference, bound 10%) once per 30-min window.
- Every attack run continues after the attack until its consequences have ended: chain time passes in
  2-hour steps (each followed by blocks of honest traffic; the keeper settles the limiters and cashes honest
  users' released claims) until every pause, forced reduce-only, limiter trip and queued claim has ended, and
  at least 72 h after the attack; each step the attacker tries to take out what it still has inside (it waits
  out the pause, cashes its claims late). What leaves then counts as taken (column "after": hours run).
- Defence levels: `none` (guards loosened by governance: per-transaction cap 100%, limiter that never limits,
  OracleGuard on the primary feed only with 100% jumps and a 3-day heartbeat, guardian pauses up to 72 h with
  a 1-h cooldown; variants deployed with their guard switch off; nobody watching), `onchain` (the deployment's
  guards as shipped, variants guarded, nobody watching), `watchtower` (the loosened guards, plus the watchtower
  and the humans it alerts), `all` (both).
- The watchtower is the real service (`bastion.tower.service.WatchService`: ingest with traces, detectors,
  incidents, playbooks, relayer, SQLite store) driven in process before each block (mempool scan) and after it.
  Detectors: the ones `bastion watch` ships (`bastion.watch.detectors`), among them `oracle_deviation`'s named
  references (a feed vs the AMM's time-weighted price and its peer), `unit_price` (a vault's share price falls,
  jumps or starts inflated) and `guard_event`'s guardian powers (a guardian power was used). Playbooks: force
  that market reduce-only on an oracle anomaly, and pause withdrawals too only when the feeds moved (the
  playbooks' price triage: a pool held off feeds that agree and are fresh gets the narrow answer); pause a
  variant's non-exit operations on a drain, a share-price anomaly or a pending takeover; propose one Safe
  cancel per sensitive timelock operation (each on its own Safe nonce); notify on guardian actions. The
  humans (the Safe's owners) react after 30 minutes of chain time: they co-sign the cancel of an operation
  they did not schedule (in nonce order), and rotate the guardian role through the timelock when a guardian
  action did not come from their watchtower.

## Measures
- value at risk: what the attack can reach (the victim's honest funds, or the attacker's planned profit on
  the reference protocol); lost: what honest users and the protocol lost within the run; taken: the attacker's
  gain (received, or owed to it as limiter claims, which are paid without any further decision);
  preserved = 1 - lost / at risk. Funds a pause keeps inside the protocol are not counted as taken (see notes).
- to protect: blocks and seconds from the first malicious transaction to the first protective action (a guard
  refusing or reverting the attack or a victim's transaction, a guard trip, a watchtower action mined, a
  Safe cancel).
- detected: blocks from the first malicious transaction (or the fault, for the stale feed) to the watchtower's
  first finding (a finding about a pending transaction counts for the block it was seen before).
- trips: guard trips and pauses during the run (in benign scenarios every one is a false trip); the bank
  run's limiter trips are reported apart, as designed delays. honest refused: honest transactions a guard
  refused or reverted; honest delayed: honest funds still queued at the end; honest lost: honest funds lost.
- honest wait (griefing scenarios): the longest wait of an honest withdrawal the griefer caused, from the
  block it was asked for to the block the money was in the wallet (36 h when it never came).
- guardian-only liquidations: positions liquidated that were safe under governance's own maintenance margin
  (only a guardian's `emergencyTighten` made them liquidatable).

## Scenarios
| key | kind | real incident class | what happens |
|---|---|---|---|
{scenarios}

## Results
{table}
{chart}
## What each defence did
{did}

## Targets (defences `all`)
{targets}

### Missed, and why
{missed}

## What the runs show (read before trusting the numbers)
- One-transaction attacks (flash swap, reentrancy, donation) are stopped only on chain: the invariant guard's
  account check at the OracleGuard price, its paid-within-balance check and its fair-mint check revert them in
  their own transaction. The watchtower alone sees them a block late, after the money has gone.
- Multi-transaction attacks (a compromised feeder, an unprotected setter, a slow rounding drain, a queued
  upgrade) are stopped by the watchtower within one block (the setter takeover before it lands: the pending
  transaction is seen in the mempool and the pause, with a higher tip, is ordered first). The on-chain guards
  alone only slow them: in DELAYED mode the outflow limiter turns what exceeds its headroom into claims that
  are paid later to whoever they are owed, attackers included. The limiter delays; it never confiscates.
- The reference deployment gives each feed its own signer; the feeder scenarios of class 2 keep the
  weakness explicitly (one key signs both feeds). Such a key defeats the two-feed cross-check, but with the
  defences on the OracleGuard holds any price further than 10% from the pool's TWAP, and the watchtower
  compares the feeds with the pool off chain; with the defences off neither bound applies.
- The guardian's withdrawal pause (24 h) is shorter than the timelock delay (48 h), and the guardian may not
  pause again for 48 h: a fake profit frozen by the pause becomes withdrawable when the pause ends unless
  governance has acted; the runs continue past that point and count what leaves then.
- With only the watchtower (loose on-chain bounds), a rogue guardian key freezes withdrawals for 72 h even
  though the humans rotate it out after 48.5 h: the rotation does not end a running pause. The on-chain bound
  (24 h, then a 48 h cooldown) is what limits the damage; with both, 24 h in a week.
- The stale-feed guard has a visible cost: honest traders' new positions are refused while the feed is stale
  (the "honest refused" column); exits, liquidations and withdrawals keep working.
- The outflow limiter folds pending inflows into its liquidity only at a settlement: a vault that has only ever
  received deposits meets its first withdrawal with the floor's headroom (plus credit), however long it has run.
  The rehearsal settles every limiter during set-up (`releaseLockedFunds`), as a live protocol would have.
- Ordering: the watchtower tips 2 gwei, attackers 1 gwei (the donation front-runner 3 gwei). An attacker who
  outbids the watchtower, or uses a private mempool, would take the race; presigned, high-fee guardian
  transactions or a private relay are the answer there.
- Time: 1-s blocks, so "within one block" is a one-second budget; the watchtower's median wall time per block is
  printed above. Long waits (the 48-h timelock delay, the hours of the rogue-guardian week and of the bank run's
  claims) are single quiet blocks during which prices do not move.

## Notes from the runs
{notes}
"""
