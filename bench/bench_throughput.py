"""Watchtower throughput (see bastion.benchmarks.throughput): ingestion and every detector over synthetic
blocks of protocol traffic, in memory, one core.

    PYTHONPATH=src python bench/bench_throughput.py [--blocks 100] [--txs 100] [--repeats 5]

Prints a table; the last line is JSON with ``transactions`` and ``tx_per_s``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

try:
    from bastion.benchmarks.throughput import run
except ImportError:  # run from a checkout without an install: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from bastion.benchmarks.throughput import run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=100)
    ap.add_argument("--txs", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    return run(n_blocks=a.blocks, txs_per_block=a.txs, repeats=a.repeats)


if __name__ == "__main__":
    main()
