"""The wheel is self-contained: installed in a fresh virtualenv outside the checkout, Bastion runs its demo,
checks a watch config, rehearses an attack and calibrates, with no repository around.

Cost: ~1 s to build the wheel, ~2 s to install it (dependencies come from the project venv through a .pth
file, so nothing is downloaded), then the commands themselves (~35 s, the demo is most of it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bastion.paths import bundled_artifacts_dir, checkout_root

ROOT = checkout_root()
pytestmark = pytest.mark.skipif(ROOT is None, reason="needs the source checkout to build the wheel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin dir, run dir): the wheel installed in a new venv; the run dir is outside the checkout."""
    if not any(bundled_artifacts_dir().glob("*.sol/*.json")):
        pytest.fail("no staged artifacts in bastion/data/artifacts: run `make build` first")
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("bastion-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Dependencies from the project venv (offline and fast); a plain path line does not run its .pth
    # files, so the project's editable install stays invisible and only the wheel provides `bastion`.
    (Path(site) / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    run = base / "run"
    run.mkdir()
    return venv / "bin", run


def _env(bin_dir: Path, with_anvil: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    path = [str(bin_dir), "/usr/bin", "/bin"]
    if with_anvil:  # anvil on PATH, the way a Foundry user has it
        path.insert(1, str(ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin"))
    env["PATH"] = os.pathsep.join(path)
    return env


# The example watch config names its keys and webhook by environment variable; `watch --check` refuses
# to pass while one is unset, so the check runs with throwaway values (never real keys).
EXAMPLE_ENV = {
    "BASTION_GUARDIAN_KEY": "0x" + "11" * 32,
    "BASTION_OWNER_KEY": "0x" + "22" * 32,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T0/B0/x",
}


def _bastion(installed, *args: str, with_anvil: bool = True, extra_env: dict | None = None):
    bin_dir, run = installed
    return subprocess.run(
        [str(bin_dir / "bastion"), *args], cwd=run, env={**_env(bin_dir, with_anvil), **(extra_env or {})},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_the_wheel_not_the_checkout_is_imported(installed):
    bin_dir, run = installed
    code = "import bastion, bastion.paths as p; print(bastion.__file__, p.checkout_root())"
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", code],
        cwd=run, env=_env(bin_dir), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(ROOT) not in where and where.split()[1] == "None"
    assert _bastion(installed, "--version").stdout.strip().endswith("0.1.0")


def test_demo_runs_from_the_wheel(installed):
    result = _bastion(installed, "demo")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "value saved" in result.stdout


def test_watch_check_rehearse_and_calibrate_run_from_the_wheel(installed):
    bin_dir, run = installed
    configs = Path(
        subprocess.run(
            [str(bin_dir / "python"), "-c", "from bastion.paths import configs_dir; print(configs_dir())"],
            env=_env(bin_dir), capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    check = _bastion(
        installed, "watch", "--check", "--config", str(configs / "watch.example.toml"), extra_env=EXAMPLE_ENV
    )
    assert check.returncode == 0 and "config ok" in check.stdout, check.stderr

    rehearse = _bastion(installed, "rehearse", "reentrancy", "--defences", "none,all", "--scale", "0.1",
                        "--json", "rehearsal.json")  # fmt: skip
    assert rehearse.returncode == 0, rehearse.stderr[-2000:]
    assert json.loads(rehearse.stdout.strip().splitlines()[-1])["runs"] == 2

    small = run / "calibrate.toml"
    small.write_text("[stress]\nn_paths = 200\nn_accounts = 20\n[limiter]\nn_paths = 100\n")
    calibrate = _bastion(installed, "calibrate", "--config", str(small), "--out", "cal")
    assert calibrate.returncode == 0, calibrate.stderr[-2000:]
    assert (run / "cal" / "report.json").is_file()


def test_missing_anvil_is_one_line_that_says_how_to_get_it(installed):
    result = _bastion(installed, "demo", with_anvil=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "anvil not found" in lines[0] and "BASTION_ANVIL" in lines[0]
