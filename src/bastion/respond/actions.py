"""Playbook actions: each type owns its config schema, here, and registers it with ``ACTIONS``.

A built-in action is run by ``PlaybookRunner`` itself; a plug-in action (a module named in
``[plugins] modules``, or a ``bastion.actions`` entry point) registers its schema together with a
``run`` function::

    class Echo(ActionConfig):
        type: Literal["acme_echo"]
        target: str
        key: str = "guardian"

    def run(ctx: ActionContext, action: Echo, finding: FindingRow, key: str) -> list[Any]:
        return [ctx.relayers[action.key].submit(key, to=..., data=..., kind="acme_echo", **ctx.common)]

    register_action(Echo, run)

``ctx`` is the playbook runner (``protocol``, ``relayers``, ``hub``, ``rpc``, ``db``, ``chain_id``) plus
``common`` (the record's playbook, incident and dry-run flag) and ``dry``. ``key`` is the action's
idempotency key: the relayer and the notifier hub do an action at most once per key. A schema's
``key`` (a signing key's name), ``channels`` (notifiers) and ``target``/``safe``/``to``/``timelock``/
``asset`` (contracts) are checked against the config like a built-in's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.watch.config import ConfigError, WatchConfig, _shown, _validate, _where, is_address

if TYPE_CHECKING:
    from bastion.store import FindingRow


class ActionConfig(BaseModel):
    """Base of every action schema: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


# -- the generic actions -----------------------------------------------------------------------
class CallAction(ActionConfig):
    """Call ``function`` on ``target`` with the ``key`` (a pause of a scope, or any guardian call)."""

    type: Literal["pause", "call"]
    target: str
    function: str
    args: list[Any] = Field(default_factory=list)
    key: str = "guardian"
    gas: int | None = Field(default=None, gt=0)
    presign: bool = False

    @field_validator("function")
    @classmethod
    def _sig(cls, value: str) -> str:
        return _check_signature(value)


class SetParamAction(ActionConfig):
    """Tighten a parameter: ``function(value)`` where value is fixed or ``getter() * factor_bps / 10000``,
    always clamped to [min, max]."""

    type: Literal["set_param"]
    target: str
    function: str
    value: int | None = None
    getter: str | None = None
    factor_bps: int | None = Field(default=None, gt=0, le=10_000)
    min: int
    max: int
    key: str = "guardian"

    @field_validator("function", "getter")
    @classmethod
    def _sig(cls, value: str | None) -> str | None:
        return None if value is None else _check_signature(value)

    @model_validator(mode="after")
    def _bounds(self) -> SetParamAction:
        if self.min > self.max:
            raise ValueError(f"min must be <= max (got min={self.min}, max={self.max})")
        if (self.value is None) == (self.getter is None or self.factor_bps is None):
            raise ValueError("set either value, or getter and factor_bps")
        if self.value is not None and not self.min <= self.value <= self.max:
            raise ValueError(f"value must be within [min, max] (got {self.value})")
        return self


class CancelTimelockAction(ActionConfig):
    """``TimelockController.cancel(id)`` for the operation named in a governance finding."""

    type: Literal["cancel_timelock"]
    timelock: str | None = None  # default: the timelock in the finding
    key: str = "guardian"


class SafeProposeAction(ActionConfig):
    """Build a Safe 1.4.1 transaction, sign it as one owner, and store it for the co-signers."""

    type: Literal["safe_propose"]
    safe: str
    to: str
    function: str | None = None
    args: list[Any] = Field(default_factory=list)
    data: str | None = None
    value: int = Field(default=0, ge=0)
    operation: Literal[0, 1] = 0
    key: str = "owner"

    @model_validator(mode="after")
    def _payload(self) -> SafeProposeAction:
        if self.function is not None:
            _check_signature(self.function)
        if self.function is not None and self.data is not None:
            raise ValueError("set function (+ args) or data, not both")
        return self


class NotifyAction(ActionConfig):
    type: Literal["notify"]
    channels: list[str] = Field(default_factory=list)  # empty: every notifier


# -- actions of the reference clearinghouse (a deployment manifest names every target) -----------
PAUSE_OPS = {"DEPOSIT": 0, "WITHDRAW": 1, "OPEN": 2, "TRADE": 3, "BORROW": 4, "FLASH_LOAN": 5}
"""Operations the guardian may pause (``contracts/guards/PauseOps.sol``); exits are never pausable."""
EXIT_OPS = ("CLOSE", "REPAY", "ADD_COLLATERAL", "LIQUIDATE")
GUARDIAN_MAX_PAUSE = 24 * 3600
GUARDIAN_MAX_FORCE = 24 * 3600


class PauseScopeAction(ActionConfig):
    """``Router.pause(scope, ops, duration)`` with the guardian key.

    ``scope``: 0 (every market), a market index + 1, a market symbol, or ``"$detail.scope"`` (the
    finding's market). ``ops``: names from PauseOps (no exit op: the guardian can never pause those).
    ``presign``: keep a signed transaction ready for each possible scope (lowest latency)."""

    type: Literal["pause_scope"]
    target: str = "router"
    scope: int | str = "$detail.scope"
    ops: list[str] = Field(default_factory=lambda: ["OPEN"], min_length=1)
    duration: int = Field(default=3600, gt=0, le=GUARDIAN_MAX_PAUSE)
    key: str = "guardian"
    presign: bool = True
    gas: int | None = Field(default=None, gt=0)

    @field_validator("ops")
    @classmethod
    def _ops(cls, ops: list[str]) -> list[str]:
        out = []
        for op in ops:
            name = str(op).upper()
            if name in EXIT_OPS:
                raise ValueError(f"op {name} is an exit: the guardian can never pause it")
            if name not in PAUSE_OPS:
                raise ValueError(f"unknown op {op!r} (one of {', '.join(PAUSE_OPS)})")
            out.append(name)
        return out

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be >= 0 (0 is every market)")
        return value

    @property
    def mask(self) -> int:
        m = 0
        for op in self.ops:
            m |= 1 << PAUSE_OPS[op]
        return m


class ForceReduceOnlyAction(ActionConfig):
    """``OracleGuard.forceReduceOnly(market, duration)``: no new risk in the market, exits go on."""

    type: Literal["force_reduce_only"]
    target: str = "oracle_guard"
    market: str = "$detail.market"  # a symbol, a 0x market id, or $detail.<name>
    duration: int = Field(default=3600, gt=0, le=GUARDIAN_MAX_FORCE)
    key: str = "guardian"


class ExtendLimiterAction(ActionConfig):
    """``Vault.extendRateLimit(asset, until)`` on a tripped limiter: ``until`` is the trip's end plus
    ``extend_s``, at most as far as the guardian may (``tripInfo``'s guardian cap)."""

    type: Literal["extend_limiter"]
    target: str = "vault"
    asset: str = "USDC"
    extend_s: int | None = Field(default=None, gt=0, description="None: to the guardian cap")
    key: str = "guardian"


class EmergencyTightenAction(ActionConfig):
    """``ParameterRegistry.emergencyTighten(key, value, ttl, reportHash)`` of one market parameter.

    ``value`` fixed, or (default) one ``maxStep`` tighter than the effective value, clamped to the
    parameter's bounds; ``ttl`` is clamped to the parameter's ``maxTtl``."""

    type: Literal["emergency_tighten"]
    target: str = "registry"
    market: str = "$detail.market"
    parameter: str
    value: int | None = Field(default=None, ge=0)
    ttl: int = Field(default=6 * 3600, gt=0)
    key: str = "guardian"


def _check_signature(sig: str) -> str:
    sig = sig.replace(" ", "")
    if "(" not in sig or not sig.endswith(")") or not sig.split("(", 1)[0].isidentifier():
        raise ValueError(f"must be a function signature like pause(bytes32) (got {sig!r})")
    return sig


# -- the registry --------------------------------------------------------------------------------
ActionRun = Callable[["ActionContext", Any, "FindingRow", str], list[Any]]


@dataclass(frozen=True)
class ActionType:
    name: str
    schema: type[ActionConfig]
    run: ActionRun | None  # None: one of PlaybookRunner's own


class ActionRegistry:
    """Action types by their ``type`` name."""

    def __init__(self) -> None:
        self._types: dict[str, ActionType] = {}

    def add(self, schema: type[ActionConfig], run: ActionRun | None = None, *, name: str | None = None) -> None:
        names = [name] if name else _literal_names(schema)
        if not names:
            raise ValueError(f"{schema.__name__}: its type field must be a Literal of the action's name(s)")
        for n in names:
            known = self._types.get(n)
            if known is not None and (known.schema is not schema or known.run is not run):
                raise ValueError(f"action type {n!r} is registered already (by {known.schema.__module__})")
            self._types[n] = ActionType(n, schema, run)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def get(self, name: str) -> ActionType:
        return self._types[name]

    def names(self) -> list[str]:
        return list(self._types)


def _literal_names(schema: type[ActionConfig]) -> list[str]:
    ann = schema.model_fields["type"].annotation
    return [a for a in getattr(ann, "__args__", ()) if isinstance(a, str)]


ACTIONS = ActionRegistry()


def register_action(schema: type[ActionConfig], run: ActionRun | None = None) -> type[ActionConfig]:
    """Register an action type (a plug-in's ``run`` is called with the runner's context)."""
    ACTIONS.add(schema, run)
    return schema


for _schema in (
    CallAction,
    SetParamAction,
    CancelTimelockAction,
    SafeProposeAction,
    NotifyAction,
    PauseScopeAction,
    ForceReduceOnlyAction,
    ExtendLimiterAction,
    EmergencyTightenAction,
):
    ACTIONS.add(_schema)

REFERENCE_FIELDS = ("target", "safe", "to", "timelock", "asset")
"""Fields of an action schema that name a contract (an address or a name of the protocol)."""


class ActionContext:
    """What a plug-in action's ``run`` gets: the runner's parts, and the record fields of this run."""

    def __init__(self, runner: Any, common: dict[str, Any], dry: bool) -> None:
        self.runner = runner
        self.protocol = runner.protocol
        self.relayers = runner.relayers
        self.hub = runner.hub
        self.rpc = runner.rpc
        self.db = runner.db
        self.chain_id = runner.chain_id
        self.common = common
        self.dry = dry


def check_actions(cfg: WatchConfig) -> tuple[tuple[ActionConfig, ...], ...]:
    """Every playbook's actions, typed by their schemas and checked against the config (keys, channels,
    contracts); one-line ``ConfigError`` at the first problem."""
    names = set(cfg.protocol.contracts) | set(cfg.protocol.assets)
    out = []
    for i, pb in enumerate(cfg.playbooks):
        typed = []
        for j, raw in enumerate(pb.actions):
            where = ("playbooks", i, "actions", j)
            kind = raw.get("type")
            if kind not in ACTIONS:
                raise ConfigError(
                    f"config error: {_where((*where, 'type'))}: must be one of {', '.join(ACTIONS.names())} "
                    f"(got {_shown(kind)}; a plug-in's type needs its module in plugins.modules)"
                )
            action = _validate(ACTIONS.get(kind).schema, raw, where)
            key = getattr(action, "key", None)
            if key is not None and key not in cfg.keys:
                raise ConfigError(
                    f"config error: {_where((*where, 'key'))}: no [keys.{key}] "
                    f"(defined: {', '.join(cfg.keys) or 'none'})"
                )
            for ch in getattr(action, "channels", None) or []:
                if ch not in cfg.notifiers:
                    raise ConfigError(f"config error: {_where((*where, 'channels'))}: no [notifiers.{ch}]")
            for attr in REFERENCE_FIELDS:
                ref = getattr(action, attr, None)
                if (
                    isinstance(ref, str)
                    and ref not in names
                    and not ref.startswith("$")
                    and not is_address(ref)
                    and cfg.protocol.manifest is None
                ):
                    raise ConfigError(
                        f"config error: {_where((*where, attr))}: {ref!r} is neither an address "
                        f"nor a contract of [protocol]"
                    )
            typed.append(action)
        out.append(tuple(typed))
    return tuple(out)
