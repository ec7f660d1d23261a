"""Simulator benchmark: vectorized engine vs the same model in radCAD (see bastion.sim.bench).

    PYTHONPATH=src python bench/bench_sim.py [--paths 20000] [--radcad-paths 40] [--repeats 5]

Prints a table; the last line is JSON with paths_per_s, radcad_paths_per_s and speedup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

try:
    from bastion.sim.bench import run_bench
except ImportError:  # run from a checkout without an install: use its src/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from bastion.sim.bench import run_bench


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, default=20_000)
    ap.add_argument("--radcad-paths", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    return run_bench(paths=a.paths, radcad_paths=a.radcad_paths, repeats=a.repeats)


if __name__ == "__main__":
    main()
