"""``bastion init``: a first watch config for a user's Foundry project.

Lists the contracts the project's own sources compile to (from forge's ``out/``; tests, scripts and
libraries left out) and writes a commented watch config naming them by artifact, with the generic
detectors on and the notifiers stubbed, that ``bastion watch --check`` accepts as written.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bastion.paths import InputError, writable_file

PLACEHOLDER = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class ProjectContract:
    name: str  # artifact name, qualified (File.sol:Name) when two sources share the name
    source: str
    functions: int


def _profile(project: Path) -> dict:
    try:
        data = tomllib.loads((project / "foundry.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{project / 'foundry.toml'} is unreadable ({exc}): run in a Foundry project") from None
    return data.get("profile", {}).get("default", {})


def project_contracts(project: Path) -> list[ProjectContract]:
    """Deployable contracts with an ABI compiled from the project's ``src`` folder, by name."""
    if not (project / "foundry.toml").is_file():
        raise InputError(f"{project}: no foundry.toml here: run in a Foundry project or pass --project DIR")
    profile = _profile(project)
    src = str(profile.get("src", "src")).strip("/") + "/"
    out = project / str(profile.get("out", "out"))
    found: list[tuple[str, str, str, int]] = []
    for path in sorted(out.glob("*.sol/*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        target = data.get("metadata", {}).get("settings", {}).get("compilationTarget", {})
        source = next(iter(target), "")
        # Interfaces and abstract contracts have no bytecode; internal libraries have an empty ABI.
        deployable = len(data.get("bytecode", {}).get("object", "0x")) > 2 and bool(data.get("abi"))
        if source.startswith(src) and deployable:
            functions = sum(1 for item in data.get("abi", []) if item.get("type") == "function")
            found.append((path.stem, path.parent.name, source, functions))
    if not found:
        raise InputError(f"no deployable contract from {src} in {out}: run `forge build` first")
    counts: dict[str, int] = {}
    for name, *_ in found:
        counts[name] = counts.get(name, 0) + 1
    return [
        ProjectContract(name if counts[name] == 1 else f"{file}:{name}", source, functions)
        for name, file, source, functions in found
    ]


def _key(name: str) -> str:
    return name.split(":")[-1].lower()


def render_config(project: Path, contracts: list[ProjectContract], rpc_url: str, chain_id: int) -> str:
    lines = [
        f"# Bastion watchtower config for {project.name}, written by `bastion init`.",
        "# Check it: `bastion watch --config bastion.watch.toml --check`; run it without --check.",
        "# ABIs are forge artifact names, looked up in this project's out/: run bastion from the project,",
        "# or set BASTION_ROOT to it. Secrets never go here: keys and tokens are named by environment variable.",
        "# Every section is documented in docs/watch.md; configs/watch.example.toml shows them all.",
        "",
        "[service]",
        'network = "local"',
        'database = "bastion-watch.db"   # a SQLite file next to this config, or postgresql+psycopg://user@host/db',
        "poll_interval = 1.0",
        'start_block = "latest"',
        "confirmations = 0",
        "",
        "[networks.local]",
        f'rpc_urls = ["{rpc_url}"]   # more URLs: tried in order, with failover',
        f"chain_id = {chain_id}",
        "",
        "[protocol]",
        f'name = "{project.name}"',
        '# manifest = "deployment.json"   # or a deployment manifest instead of the addresses below',
        "",
        "# The contracts of this project (from out/). Set each address after deploying; protected = true makes",
        "# the generic detectors watch its funds. Remove what you do not deploy.",
    ]
    for c in contracts:
        lines += [
            f"[protocol.contracts.{_key(c.name)}]",
            f'address = "{PLACEHOLDER}"   # TODO: the deployed address',
            f'abi = "{c.name}"   # {c.source}, {c.functions} function(s)',
            "protected = true",
            "",
        ]
    lines += [
        "# Tokens the protocol holds, for amount thresholds (min_amount) and TVL:",
        "# [protocol.assets.USDC]",
        '# address = "0x..."',
        "# decimals = 6",
        "",
        "# Generic detectors: they need no knowledge of the protocol beyond the contracts above.",
        "[detectors.large_transfer]",
        "min_fraction_bps = 2000        # 20% of a holder's balance in one transaction",
        "",
        "[detectors.outflow_rate]",
        "window_blocks = 50",
        "max_fraction_bps = 500         # 5% of the protected contracts' value out over the window",
        "",
        "[detectors.attacker_prep]",
        "window_blocks = 50",
        "",
        "[detectors.governance]",
        'categories = ["upgrade", "role", "funds", "admin"]',
        "",
        "# Notifiers (stubs: uncomment one and set its environment variables).",
        "# [notifiers.ops-webhook]",
        '# type = "webhook"',
        '# url = "https://hooks.example.org/bastion"',
        '# secret_env = "BASTION_WEBHOOK_SECRET"',
        "# [notifiers.ops-slack]",
        '# type = "slack"',
        '# url = "${SLACK_WEBHOOK_URL}"',
        "",
        "# Playbooks turn findings into actions (pause, call, notify); see docs/watch.md. Example:",
        "# [keys.guardian]",
        '# env = "BASTION_GUARDIAN_KEY"',
        "# [[playbooks]]",
        '# name = "contain-drain"',
        '# on = ["large_transfer", "outflow_rate"]',
        '# min_severity = "high"',
        "#   [[playbooks.actions]]",
        '#   type = "notify"',
        "",
    ]
    return "\n".join(lines)


def init_project(project: Path, out: Path, rpc_url: str, chain_id: int, force: bool) -> list[ProjectContract]:
    contracts = project_contracts(project)
    if out.exists() and not force:
        raise InputError(f"{out} exists: pass --force to overwrite it or --out to write elsewhere")
    writable_file(out, "--out")
    out.write_text(render_config(project, contracts, rpc_url, chain_id))
    return contracts
