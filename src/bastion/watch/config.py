"""The watchtower's configuration: one TOML (or YAML) file, validated at start.

Every error is ONE line naming the key at fault, e.g.
``config error: detectors.outflow_rate.window_blocks: must be > 0 (got -3)``.
See ``configs/watch.example.toml`` for every section.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bastion.chain.redact import looks_secret, redact
from bastion.errors import BastionError
from bastion.watch.detectors import REGISTRY, DetectorConfig
from bastion.watch.findings import Severity
from bastion.watch.plugins import PluginError, load_entry_points, load_modules

MAX_WINDOW_BLOCKS = 100_000
"""The most blocks a detector window or the history may hold (each is kept in memory)."""


class ConfigError(BastionError, ValueError):
    """A configuration problem, as one line: ``config error: <key>: <what> (got <value>)``. Anything
    in it that looks like a key is redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(str(message)))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _severity(value: Any) -> Severity:
    return Severity.parse(value)


# -- sections -------------------------------------------------------------------------------------
class NetworkConfig(_Model):
    rpc_urls: list[str] = Field(min_length=1)
    ws_url: str | None = None
    chain_id: int | None = Field(default=None, gt=0)
    timeout: float = Field(default=5.0, gt=0, le=600)
    max_rounds: int = Field(default=3, gt=0, le=100)

    @field_validator("rpc_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise ValueError(f"must start with http:// or https:// (got {u[:40]!r})")
        return urls

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return url


class ContractConfig(_Model):
    address: str
    abi: str | list[dict[str, Any]] | None = None
    protected: bool = True
    kind: Literal["contract", "timelock", "safe", "feed", "pool"] = "contract"
    reference: str | None = None  # a feed's reference: another feed or a V2-style pair (name or address)
    reference_base: Literal["token0", "token1"] = "token0"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)


class AssetConfig(_Model):
    address: str  # 0xeeee...eeee (40 e's): the chain's native coin, from traces and balances
    decimals: int = Field(default=18, ge=0, le=36)
    transfer_events: bool = True  # false: a token that moves balances without Transfer: read them directly

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)


def _check_address(value: str) -> str:
    text = str(value)
    if not (text.startswith("0x") and len(text) == 42):
        raise ValueError("must be a 0x-prefixed 20-byte address")
    try:
        int(text[2:], 16)
    except ValueError:
        raise ValueError("must be a 0x-prefixed 20-byte address") from None
    return text.lower()


class ProtocolConfig(_Model):
    name: str = "protocol"
    manifest: Path | None = None
    contracts: dict[str, ContractConfig] = Field(default_factory=dict)
    assets: dict[str, AssetConfig] = Field(default_factory=dict)


class KeyConfig(_Model):
    """A signing key by reference: an env var holding the hex key, or a keystore + password env var."""

    env: str | None = None
    keystore: Path | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeyConfig:
        if looks_secret(self.env) or looks_secret(self.password_env):
            raise ValueError(
                "looks like a key itself: put the key in an environment variable and give that variable's name"
            )
        if (self.env is None) == (self.keystore is None):
            raise ValueError("set exactly one of env or keystore")
        if self.keystore is not None and self.password_env is None:
            raise ValueError("keystore needs password_env")
        return self


class RelayerConfig(_Model):
    replace_after_s: float = Field(default=6.0, gt=0)
    fee_bump_bps: int = Field(default=2_500, ge=1_000, le=100_000)  # nodes want >= +10%
    max_fee_per_gas: int = Field(default=500 * 10**9, gt=0)
    priority_fee: int = Field(default=2 * 10**9, ge=0)
    max_attempts: int = Field(default=8, gt=0)
    confirm_timeout_s: float = Field(default=120.0, gt=0)
    # a mined action is re-checked until this deep; default 2 on dev chains, 12 elsewhere
    final_depth: int | None = Field(default=None, ge=1, le=1_000)


# -- playbooks (their actions are the tower's: bastion.respond.actions) -------------------------
class PlaybookConfig(_Model):
    name: str
    on: list[str] = Field(min_length=1, description="detector ids, or '*'")
    min_severity: Severity = Severity.HIGH
    dry_run: bool = False
    when: dict[str, Any] = Field(
        default_factory=dict, description="finding details that must match: name -> value or list of values"
    )
    actions: list[dict[str, Any]] = Field(min_length=1)

    def accepts(self, details: dict[str, Any] | None) -> bool:
        d = details or {}
        for k, want in self.when.items():
            got = d.get(k)
            if got not in (want if isinstance(want, list) else [want]):
                return False
        return True

    _severity = field_validator("min_severity", mode="before")(lambda cls, v: _severity(v))


# -- plug-ins -------------------------------------------------------------------------------------
class PluginsConfig(_Model):
    """Modules to import before the detectors are checked (they register theirs), and where to find them."""

    modules: list[str] = Field(default_factory=list)
    paths: list[Path] = Field(default_factory=list, description="folders put on sys.path, relative to the file")
    entry_points: bool = True  # load installed packages' bastion.detectors/actions/notifiers entry points

    @field_validator("modules")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not all(part.isidentifier() for part in str(name).split(".")):
                raise ValueError(f"not a module name: {name!r}")
        return value


# -- service and the whole file ------------------------------------------------------------------
class ServiceConfig(_Model):
    network: str | None = None  # which [networks.<name>]; default: the only one
    database: str = "watch.db"
    poll_interval: float = Field(default=1.0, gt=0, le=3_600)
    start_block: int | Literal["latest"] = "latest"
    confirmations: int = Field(default=0, ge=0)
    history_blocks: int = Field(default=256, gt=0, le=MAX_WINDOW_BLOCKS)  # held in memory
    max_reorg_depth: int = Field(default=64, gt=0, le=10_000)
    incident_window_blocks: int = Field(default=100, gt=0, le=1_000_000)
    traces: bool = True
    trace_timeout_s: float = Field(default=10.0, gt=0)  # a block's traces; past it, receipts and logs only
    trace_max_txs: int | None = Field(default=None, gt=0)  # blocks with more transactions are not traced
    pending: bool = True
    metrics_port: int | None = Field(default=None, gt=0, lt=65536)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    dry_run: bool = False  # every playbook records its actions and sends nothing
    # instances sharing a database: the one holding this lease acts, the others stand by
    lease_s: float = Field(default=10.0, gt=0, le=3_600)
    # head watchdog: a head unchanged this long is stale (default 60 s; never on dev chains, which
    # mine on demand), an endpoint this many blocks behind the best is failed over
    head_stale_s: float | None = Field(default=None, gt=0)
    max_lag_blocks: int = Field(default=3, ge=0)
    watchdog_interval_s: float = Field(default=1.0, ge=0)
    # /healthz fails when no tick has succeeded for this long (default max(30 s, 20 poll intervals))
    stuck_after_s: float | None = Field(default=None, gt=0)

    @field_validator("start_block")
    @classmethod
    def _start(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be >= 0 or 'latest'")
        return value


class WatchConfig(_Model):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    networks: dict[str, NetworkConfig] = Field(min_length=1)
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    keys: dict[str, KeyConfig] = Field(default_factory=dict)
    relayer: RelayerConfig = Field(default_factory=RelayerConfig)
    detectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    playbooks: list[PlaybookConfig] = Field(default_factory=list)
    notifiers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # each checked by its type's schema
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    # filled by validation: detector configs here; each playbook's typed actions and each notifier's
    # typed config by the tower (bastion.tower.config), which sees the schemas that respond registers
    detector_configs: dict[str, DetectorConfig] = Field(default_factory=dict, exclude=True)
    action_configs: tuple[tuple[Any, ...], ...] | None = Field(default=None, exclude=True)
    notifier_configs: dict[str, Any] | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @property
    def network_name(self) -> str:
        return self.service.network or next(iter(self.networks))

    @property
    def network(self) -> NetworkConfig:
        return self.networks[self.network_name]

    def actions(self, playbook: PlaybookConfig) -> list[Any]:
        """The playbook's typed actions (validated by the tower, see ``action_configs``)."""
        if self.action_configs is None:
            raise ConfigError("config error: playbooks: actions not checked (load it with bastion.tower.config)")
        return list(self.action_configs[self.playbooks.index(playbook)])

    def path(self, p: Path | str) -> Path:
        p = Path(p)
        return p if p.is_absolute() else self.base_dir / p


# -- error formatting ----------------------------------------------------------------------------
_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "missing": "required",
    "extra_forbidden": "unknown key",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of {expected}",
}


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    text = redact(text)  # before cutting: a cut key no longer looks like one
    return text if len(text) <= 60 else text[:57] + "..."


def format_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    err = exc.errors(include_url=False)[0]
    loc = prefix + tuple(err["loc"])
    ctx = err.get("ctx") or {}
    template = _MESSAGES.get(err["type"])
    if template is not None:
        try:
            msg = template.format(**ctx)
        except KeyError:
            msg = err["msg"]
    else:
        msg = err["msg"]
        for lead in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(lead)
        msg = msg[:1].lower() + msg[1:]
    shown = ""
    if (
        err["type"] not in ("missing", "extra_forbidden")
        and "(got " not in msg
        and not isinstance(err.get("input"), dict)
    ):
        shown = f" (got {_shown(err.get('input'))})"
    more = len(exc.errors()) - 1
    tail = f" [+{more} more]" if more > 0 else ""
    return f"config error: {_where(loc)}: {msg}{shown}{tail}"


def _validate(model: type[BaseModel], data: Any, prefix: tuple[Any, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_error(exc, prefix)) from None


# -- loading -------------------------------------------------------------------------------------
def parse_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config error: {path}: cannot read ({exc.strerror})") from None
    try:
        data = (yaml.safe_load(text) or {}) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error: {path}: invalid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config error: {path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config error: {path}: the top level must be a table")
    return data


def validate_watch_config(data: dict[str, Any], base_dir: Path = Path(".")) -> WatchConfig:
    """Validate a parsed config but for its actions' and notifiers' own schemas (the tower's
    ``bastion.tower.config.validate_config`` checks those too); ``ConfigError`` (one line) at the first
    problem. Plug-in modules are imported here, so what they register is known to the checks after."""
    cfg: WatchConfig = _validate(WatchConfig, data)
    if cfg.service.network is not None and cfg.service.network not in cfg.networks:
        raise ConfigError(
            f"config error: service.network: no [networks.{cfg.service.network}] (defined: {', '.join(cfg.networks)})"
        )
    if cfg.service.network is None and len(cfg.networks) > 1:
        raise ConfigError("config error: service.network: several networks defined: name the one to watch")
    try:
        if cfg.plugins.entry_points:
            load_entry_points()
        load_modules(cfg.plugins.modules, [p if p.is_absolute() else base_dir / p for p in cfg.plugins.paths])
    except PluginError as exc:
        raise ConfigError(f"config error: {exc}") from None
    detector_configs: dict[str, DetectorConfig] = {}
    for detector_id, raw in cfg.detectors.items():
        if detector_id not in REGISTRY:
            known = ", ".join(REGISTRY.ids())
            raise ConfigError(f"config error: detectors.{detector_id}: unknown detector (known: {known})")
        if not isinstance(raw, dict):
            raise ConfigError(f"config error: detectors.{detector_id}: must be a table")
        detector_configs[detector_id] = _validate(REGISTRY.get(detector_id).Config, raw, ("detectors", detector_id))
    for i, pb in enumerate(cfg.playbooks):
        for det in pb.on:
            if det != "*" and det not in REGISTRY:
                raise ConfigError(f"config error: playbooks[{i}].on: unknown detector {det!r}")
        for j, raw in enumerate(pb.actions):
            # the shape only: each action type's schema (respond's, or a plug-in's) is the tower's check
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                raise ConfigError(f"config error: playbooks[{i}].actions[{j}].type: required (an action type)")
    for name, raw in cfg.notifiers.items():
        if not isinstance(raw.get("type"), str):
            raise ConfigError(f"config error: notifiers.{name}.type: required (a notifier type)")
    cfg = cfg.model_copy(update={"detector_configs": detector_configs, "base_dir": base_dir})
    check_references(cfg)
    return cfg


AMOUNT_KEYS = ("min_amount", "min_scale")


def check_references(cfg: WatchConfig, resolve: Any = None) -> None:
    """Every token a detector's thresholds name (``min_amount``, ``min_scale``, ``assets``) must be an
    asset, a contract or an address: an unknown one would make the detector fail on every block.
    ``resolve`` (a loaded protocol's) is used when a manifest supplies the names; one-line ``ConfigError``."""
    names = set(cfg.protocol.contracts) | set(cfg.protocol.assets)
    for detector_id, dc in cfg.detector_configs.items():
        # only per-token tables and lists (a plug-in's own min_amount may be a plain number)
        refs = [(key, ref) for key in AMOUNT_KEYS if isinstance(v := getattr(dc, key, None), dict) for ref in v]
        if isinstance(assets := getattr(dc, "assets", None), list):
            refs += [("assets", ref) for ref in assets if isinstance(ref, str)]
        for key, ref in refs:
            if ref in names or is_address(ref):
                continue
            if resolve is not None:
                try:
                    resolve(ref)
                    continue
                except ValueError:
                    pass
            elif cfg.protocol.manifest is not None:
                continue  # the manifest may name it: checked again once it is loaded
            known = ", ".join(sorted(cfg.protocol.assets)) or "none"
            raise ConfigError(
                f"config error: detectors.{detector_id}.{key}: unknown token {ref!r}: name an asset of "
                f"[protocol.assets] (defined: {known}), a contract or an address"
            )


def check_environment(cfg: WatchConfig) -> None:
    """What the file points at outside itself: the keys' environment variables and keystores, and the
    contracts' ABI artifacts. Run by ``bastion watch`` (and ``--check``) before anything starts; one-line
    ``ConfigError`` (a key's value is never shown)."""
    for name, k in cfg.keys.items():
        if k.env is not None and not os.environ.get(k.env, "").strip():
            raise ConfigError(
                f"config error: keys.{name}.env: environment variable {k.env} is not set "
                "(export it with the hex private key before starting)"
            )
        if k.keystore is not None:
            path = cfg.path(k.keystore)
            if not path.is_file():
                raise ConfigError(f"config error: keys.{name}.keystore: no file {path}")
            if k.password_env is not None and k.password_env not in os.environ:
                raise ConfigError(
                    f"config error: keys.{name}.password_env: environment variable {k.password_env} is not set"
                )
    from bastion.chain.artifacts import ArtifactError, load_artifact

    for name, c in cfg.protocol.contracts.items():
        if isinstance(c.abi, str):
            try:
                load_artifact(c.abi)
            except ArtifactError as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(
                    f"config error: protocol.contracts.{name}.abi: no ABI artifact {c.abi!r} ({first[:160]}): "
                    "build it (forge build), fix the name, or give the ABI inline"
                ) from None


def is_address(value: str) -> bool:
    try:
        _check_address(value)
        return True
    except ValueError:
        return False


def read_config(
    path: str | Path,
    *,
    manifest: str | Path | None = None,
    rpc_url: str | None = None,
    ws_url: str | None = None,
    dry_run: bool | None = None,
) -> tuple[dict[str, Any], Path]:
    """A config file's data, ready for validation, and its folder; the keyword arguments replace what
    the file says (a manifest path given here is taken relative to the working directory, the file's
    relative to the file)."""
    path = Path(path)
    data = _expand_env(parse_file(path))
    if manifest is not None:
        data.setdefault("protocol", {})
        if not isinstance(data["protocol"], dict):
            raise ConfigError("config error: protocol: must be a table")
        data["protocol"] = {**data["protocol"], "manifest": str(Path(manifest).resolve())}
    if rpc_url is not None or ws_url is not None:
        nets = data.get("networks") if isinstance(data.get("networks"), dict) else {}
        service = data.get("service") if isinstance(data.get("service"), dict) else {}
        name = service.get("network") or (next(iter(nets)) if nets else "default")
        net = dict(nets.get(name) or {})
        if rpc_url is not None:
            net["rpc_urls"] = [rpc_url]
        if ws_url is not None:
            net["ws_url"] = ws_url
        data["networks"] = {**nets, name: net}
    if dry_run is not None:
        data["service"] = {**(data.get("service") or {}), "dry_run": dry_run}
    return data, path.resolve().parent


def _expand_env(value: Any) -> Any:
    """``${VAR}`` inside string values is replaced by the environment variable (for URLs)."""
    if isinstance(value, str) and "${" in value:
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    return value
