"""Simulation reports behind on-chain changes, and the engine's ledger of what it did.

Every report is stored as its canonical JSON bytes under ``<reports_dir>/0x<sha256>.json``: the name is
the ``reportHash`` emitted on-chain, and ``sha256sum`` of the file prints it again, so anyone holding the
file can check it against the ``ParameterUpdated`` event (or the timelock operation's salt).

The ledger (``ledger.jsonl`` next to the reports) has one JSON line per action: what was sent or proposed,
with its report hash, transaction hash, timelock operation id and Safe transaction hash. The engine reads
it at start to know which proposals are still pending and when each governed parameter last moved.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from bastion.errors import BastionError
from bastion.risk.policy import canonical_json


class ReportMismatch(BastionError, ValueError):
    """A stored report's content does not hash to its name."""


class ReportStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: bytes) -> Path:
        return self.root / f"0x{digest.hex()}.json"

    def write(self, report: dict[str, Any]) -> tuple[bytes, Path]:
        """Store ``report``; return its sha256 (the on-chain reportHash) and the file written."""
        blob = canonical_json(report)
        digest = hashlib.sha256(blob).digest()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(digest)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)
        return digest, path

    def read(self, digest: bytes) -> dict[str, Any]:
        return json.loads(self.path(digest).read_bytes())


def verify_report(path: str | Path) -> bytes:
    """sha256 of a stored report; raises ``ReportMismatch`` when the file name says otherwise."""
    p = Path(path)
    digest = hashlib.sha256(p.read_bytes()).digest()
    if p.stem.startswith("0x") and p.stem != "0x" + digest.hex():
        raise ReportMismatch(f"{p}: content hashes to 0x{digest.hex()}, not to its name")
    return digest


class Ledger:
    """Append-only JSON lines; read back whole (small: one line per action)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry = {"logged_at": time.time(), **entry}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash: ignore it
        return out
