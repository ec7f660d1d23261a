"""Watchtower detect-to-broadcast latency on anvil (see bastion.benchmarks.latency).

    PYTHONPATH=src python bench/bench_latency.py [--trials 100] [--block-interval 0.5]

Prints a summary; the last line is JSON with ``trials``, ``detect_to_broadcast_ms_p50``,
``detect_to_broadcast_ms_p99`` and ``mined_next_block_ratio``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

try:
    from bastion.benchmarks.latency import run
except ImportError:  # run from a checkout without an install: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from bastion.benchmarks.latency import run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--block-interval", type=float, default=0.5)
    a = ap.parse_args(argv)
    return run(trials=a.trials, block_interval=a.block_interval)


if __name__ == "__main__":
    main()
