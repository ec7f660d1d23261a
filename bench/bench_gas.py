"""Gas overhead of Bastion's hot-path guards, from full-transaction gas.

Runs the forge gas suite (test/gas/VaultGas.t.sol) with --isolate, so every measured call is its own
transaction (21,000 base, calldata, cold storage), reads the figures recorded by vm.snapshotGasLastCall
and compares GuardedVault (OutflowLimiter + ScopedPause + ReentrancyGuardTransient) and
InvariantGuardedVault (+ TxInvariantGuard) against PlainVault, the unguarded baseline.

Gas is deterministic, so one run is enough. Usage, from the repository root:

    python bench/bench_gas.py

The last line printed is a JSON object (see KEYS below).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORGE = Path("node_modules/@foundry-rs/forge-linux-amd64/bin/forge")
SUITES = "test/gas/*"
SNAPSHOT = Path("snapshots/VaultGas.json")
# The reference clearinghouse's user operations, every guard on (test/gas/ProtocolGas.t.sol).
PROTOCOL_SNAPSHOT = Path("snapshots/ProtocolGas.json")
PROTOCOL_OPS = ("deposit", "withdraw", "open", "close", "liquidate")

TARGETS = {"withdraw": 6_000, "deposit": 3_000}

# (label, plain key, guarded key) for each scenario: the previous operation on the vault was one block
# (12 s) or 30 days earlier; "after deposit" means that previous operation was a deposit (the limiter
# then settles a pending inflow), otherwise it was a withdrawal.
SCENARIOS = [
    ("deposit, previous op 1 block earlier", "deposit_1block"),
    ("deposit, previous op 30 days earlier", "deposit_30d"),
    ("withdraw, previous op (withdraw) 1 block earlier", "withdraw_1block"),
    ("withdraw, previous op (withdraw) 30 days earlier", "withdraw_30d"),
    ("withdraw, previous op (deposit) 1 block earlier", "withdraw_afterDeposit_1block"),
    ("withdraw, previous op (deposit) 30 days earlier", "withdraw_afterDeposit_30d"),
]


def run_forge(forge: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Run the isolated gas suites; return full-transaction gas per vault scenario and per protocol op."""
    cmd = [str(forge), "test", "--isolate", "--match-path", SUITES]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"forge failed ({proc.returncode}): {' '.join(cmd)}")

    def read(path: Path) -> dict[str, int]:
        return {name: int(value) for name, value in json.loads((ROOT / path).read_text()).items()}

    return read(SNAPSHOT), read(PROTOCOL_SNAPSHOT)


def overheads(gas: dict[str, int]) -> list[tuple[str, str, int, int, int, int | None]]:
    """Rows of (label, key, plain, guarded, guarded overhead, invariant-guarded overhead or None)."""
    rows = []
    for label, key in SCENARIOS:
        plain = gas[f"plain_{key}"]
        guarded = gas[f"guarded_{key}"]
        inv = gas.get(f"invariant_{key}")
        rows.append((label, key, plain, guarded, guarded - plain, None if inv is None else inv - plain))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forge", type=Path, default=FORGE, help="forge binary, relative to the repo root")
    args = parser.parse_args()

    gas, protocol = run_forge(args.forge)
    rows = overheads(gas)
    by_key = {key: over for _, key, _, _, over, _ in rows}

    print(f"{'scenario':52} {'plain':>8} {'guarded':>8} {'overhead':>9} {'+tx inv.':>9}")
    for label, _, plain, guarded, over, inv in rows:
        inv_s = "-" if inv is None else f"{inv:+,}"
        print(f"{label:52} {plain:>8,} {guarded:>8,} {over:>+9,} {inv_s:>9}")
    print(
        "baseline: PlainVault (balances + totalAssets counter, SafeERC20), full transaction gas, "
        "measured with forge --isolate"
    )

    print()
    print("reference clearinghouse, full transaction gas (every guard on):")
    for op in PROTOCOL_OPS:
        print(f"  {op:10} {protocol[op]:>9,}")

    withdraw = max(by_key["withdraw_1block"], by_key["withdraw_afterDeposit_1block"])
    withdraw_idle = max(by_key["withdraw_30d"], by_key["withdraw_afterDeposit_30d"])
    result = {
        "withdraw_overhead_gas": withdraw,
        "deposit_overhead_gas": by_key["deposit_1block"],
        "withdraw_overhead_after_30d_idle_gas": withdraw_idle,
        "deposit_overhead_after_30d_idle_gas": by_key["deposit_30d"],
        "withdraw_overhead_prev_withdraw_gas": by_key["withdraw_1block"],
        "withdraw_overhead_prev_deposit_gas": by_key["withdraw_afterDeposit_1block"],
        "withdraw_overhead_with_tx_invariant_guard_gas": max(
            inv for _, key, _, _, _, inv in rows if key.startswith("withdraw") and inv is not None
        ),
        "deposit_overhead_with_tx_invariant_guard_gas": next(
            inv for _, key, _, _, _, inv in rows if key == "deposit_1block"
        ),
        "plain_withdraw_gas": gas["plain_withdraw_1block"],
        "plain_deposit_gas": gas["plain_deposit_1block"],
        "guarded_withdraw_gas": gas["guarded_withdraw_1block"],
        "guarded_deposit_gas": gas["guarded_deposit_1block"],
        "withdraw_target_gas": TARGETS["withdraw"],
        "deposit_target_gas": TARGETS["deposit"],
        **{f"protocol_{op}_gas": protocol[op] for op in PROTOCOL_OPS},
        "targets_met": withdraw <= TARGETS["withdraw"]
        and withdraw_idle <= TARGETS["withdraw"]
        and by_key["deposit_1block"] <= TARGETS["deposit"]
        and by_key["deposit_30d"] <= TARGETS["deposit"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
