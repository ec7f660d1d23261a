"""Incidents: findings deduplicated and correlated, with a severity and a timeline.

Deduplication is the store's: a finding's key is unique per chain. Correlation: a new finding
joins the open incident that shares one of its related addresses (its subject, its actor, and the
token / holder / contract / target / timelock in its details) and whose last finding is at most
``window_blocks`` older; otherwise it opens a new incident. An incident's severity is the highest
of its live findings. Incidents idle for longer than the window are closed. When a reorg retracts
findings, incidents are recomputed from their remaining findings; one left with none is ``retracted``.

Timeline (``timeline``): first malicious transaction (block time of the earliest finding),
detection (when the incident was opened), action sent, action mined.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bastion.store import FindingRow, IncidentRow, Repository
from bastion.watch.findings import Severity


@dataclass(frozen=True)
class TimelineEntry:
    what: str
    at: float | None
    ref: str | None = None


def timeline(inc: IncidentRow) -> list[TimelineEntry]:
    return [
        TimelineEntry("first malicious tx", inc.first_tx_at, inc.first_tx_hash),
        TimelineEntry("detected", inc.detected_at),
        TimelineEntry("action sent", inc.action_sent_at),
        TimelineEntry("action mined", inc.action_mined_at),
    ]


RELATED_DETAILS = ("token", "holder", "contract", "target", "timelock")


def related(row: FindingRow) -> set[str]:
    """The addresses through which a finding correlates with others."""
    out = {row.subject, row.actor}
    details = row.details or {}
    out.update(details.get(k) for k in RELATED_DETAILS)
    return {a for a in out if isinstance(a, str) and a.startswith("0x")}


class Correlator:
    def __init__(self, chain_id: int, *, window_blocks: int = 100, clock: Callable[[], float] = time.time) -> None:
        self.chain_id = chain_id
        self.window_blocks = window_blocks
        self.clock = clock
        self.repo = Repository()

    def add(
        self, s: Session, rows: Iterable[FindingRow], block_timestamps: dict[int, int] | None = None
    ) -> list[IncidentRow]:
        """Attach each new finding to an incident; the incidents touched (new or updated)."""
        touched: dict[int, IncidentRow] = {}
        stamps = block_timestamps or {}
        for row in rows:
            now = self.clock()
            inc = s.get(IncidentRow, row.incident_id) if row.incident_id is not None else None
            if inc is not None and inc.status == "retracted":
                inc.status = "open"  # the finding came back: its block is canonical again
            if inc is None:
                inc = self._match(s, row)
            if inc is None:
                inc = IncidentRow(
                    chain_id=self.chain_id,
                    status="open",
                    severity=row.severity,
                    title=row.title,
                    subject=row.subject,
                    actors=[],
                    detectors=[],
                    related=[],
                    first_block=row.block_number,
                    last_block=row.block_number,
                    first_tx_hash=row.tx_hash,
                    first_tx_at=stamps.get(row.block_number) if row.block_number is not None else None,
                    detected_at=now,
                    updated_at=now,
                )
                s.add(inc)
                s.flush()
            row.incident_id = inc.id
            self._absorb(inc, row, stamps)
            inc.updated_at = now
            touched[inc.id] = inc
        return list(touched.values())

    def _match(self, s: Session, row: FindingRow) -> IncidentRow | None:
        for inc in self.repo.open_incidents(s, self.chain_id):
            if (
                row.block_number is not None
                and inc.last_block is not None
                and row.block_number - inc.last_block > self.window_blocks
            ):
                inc.status = "closed"
                continue
            if related(row) & set(inc.related or []):
                return inc
        return None

    @staticmethod
    def _absorb(inc: IncidentRow, row: FindingRow, stamps: dict[int, int]) -> None:
        if Severity.parse(row.severity) > Severity.parse(inc.severity):
            inc.severity = row.severity
            inc.title = row.title
        if row.actor and row.actor not in (inc.actors or []):
            inc.actors = [*(inc.actors or []), row.actor]
        more = related(row) - set(inc.related or [])
        if more:
            inc.related = [*(inc.related or []), *sorted(more)]
        if row.detector not in (inc.detectors or []):
            inc.detectors = [*(inc.detectors or []), row.detector]
        if row.block_number is not None:
            if inc.first_block is None or row.block_number < inc.first_block:
                inc.first_block = row.block_number
                inc.first_tx_hash = row.tx_hash
                inc.first_tx_at = stamps.get(row.block_number, inc.first_tx_at)
            inc.last_block = max(inc.last_block or row.block_number, row.block_number)

    def on_retracted(self, s: Session, rows: Iterable[FindingRow]) -> list[IncidentRow]:
        """Recompute the incidents of retracted findings; those left empty become ``retracted``."""
        out = []
        for incident_id in {r.incident_id for r in rows if r.incident_id is not None}:
            inc = s.get(IncidentRow, incident_id)
            if inc is None:
                continue
            live = self.repo.incident_findings(s, incident_id)
            if not live:
                inc.status = "retracted"
            else:
                inc.severity = max(Severity.parse(f.severity) for f in live).label
                mined = [f for f in live if f.block_number is not None]
                if mined:
                    first = mined[0]
                    inc.first_block, inc.first_tx_hash = first.block_number, first.tx_hash
                    inc.last_block = max(f.block_number for f in mined)
                if inc.status == "retracted":
                    inc.status = "open"
            inc.updated_at = self.clock()
            out.append(inc)
        return out
