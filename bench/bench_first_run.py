"""First run in minutes: clone this repository into a temporary folder and time `make demo` there, as a new
user would (fresh .venv from the lock file, npm ci, compile contracts/, the demo itself).

Only the committed tree is cloned (what a user gets). Package downloads go through the machine's usual
pip and npm configuration (their caches make a second run faster: the figure of a truly cold machine is
higher). Each `==>` step of the Makefile is timed from the output. Last line: JSON
{"fresh_demo_s": ..., "steps_s": {...}, "commit": ...}. Usage: `python bench/bench_first_run.py [--keep]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    keep = "--keep" in sys.argv[1:]
    base = Path(tempfile.mkdtemp(prefix="bastion-first-run-"))
    clone = base / "bastion"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # A user's shell: no variables of this checkout's environment leak into the clone's make.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BASTION_", "VIRTUAL_ENV", "FOUNDRY_"))}
    steps: dict[str, float] = {}
    step, step_start = "clone", time.perf_counter()
    t0 = time.perf_counter()
    log = base / "make-demo.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "demo"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if line.startswith("==>") or line.startswith(".venv/bin/bastion demo"):
                now = time.perf_counter()
                steps[step] = round(steps.get(step, 0.0) + now - step_start, 1)
                step, step_start = line.strip().lstrip("=> ").split(" (")[0][:60], now
                print(f"[{now - t0:6.0f} s] {line.strip()}", flush=True)
        code = proc.wait()
    total = time.perf_counter() - t0
    steps[step] = round(steps.get(step, 0.0) + time.perf_counter() - step_start, 1)
    if code != 0:
        print(f"error: `make demo` failed in {clone} (exit {code}): see {log}", file=sys.stderr)
        return 1
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({"fresh_demo_s": round(total, 1), "steps_s": steps, "commit": commit}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
