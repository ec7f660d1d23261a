"""The ``bastion risk`` configuration: TOML or YAML, validated by pydantic, unknown keys rejected.

A bad file is a one-line ``ConfigError`` naming the file, the key and the problem (``risk.toml:
policy.emergency_ttl_seconds: Input should be greater than 0``). See ``configs/risk.example.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bastion.sim.config import ConfigError, read_settings_file, validate_settings

__all__ = ["ConfigError", "RiskConfig", "load_risk_config", "parse_risk_config"]

EXAMPLE = "configs/risk.example.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainConfig(_Strict):
    """Where the protocol lives. No ``rpc_url``: start the embedded chain and deploy the system."""

    rpc_url: str | None = None
    manifest: str | None = None  # deployment manifest (JSON), required with rpc_url
    block_time: float | None = Field(None, gt=0, le=60)  # embedded chain only; omitted = automine
    replay_hours: int = Field(0, ge=0, le=24 * 90)  # embedded chain only: hourly rounds pushed before the loop
    hours_per_cycle: int = Field(0, ge=0, le=24)  # embedded chain only: more rounds (and clock) per cycle
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _pair(self) -> ChainConfig:
        if self.rpc_url and not self.manifest:
            raise ValueError("manifest is required with rpc_url (write one with `bastion deploy`)")
        if self.manifest and not self.rpc_url:
            raise ValueError("rpc_url is required with manifest")
        if self.rpc_url and (self.replay_hours or self.hours_per_cycle or self.block_time):
            raise ValueError("replay_hours, hours_per_cycle and block_time apply to the embedded chain only")
        return self


class KeyRef(_Strict):
    """A key by reference: an environment variable with the hex key, or a keystore and its password's
    environment variable. Never the key itself."""

    env: str | None = None
    keystore: str | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _one(self) -> KeyRef:
        if (self.env is None) == (self.keystore is None):
            raise ValueError("give exactly one of env or keystore")
        if self.keystore is not None and self.password_env is None:
            raise ValueError("a keystore needs password_env")
        return self


class KeysConfig(_Strict):
    """The RISK key (``tighten``/``emergencyTighten``) and one guardian Safe owner (signs proposals).
    Omitted on a dev chain (chain id 31337): the well-known dev accounts 7 and 2."""

    risk: KeyRef | None = None
    safe_owner: KeyRef | None = None


class EstimatorConfig(_Strict):
    history_hours: int = Field(24 * 60, ge=48, le=24 * 365 * 4)  # hourly returns for the volatility fit
    min_history_hours: int = Field(168, ge=24, le=24 * 365)  # fewer from the chain: bundled data instead
    min_rounds: int = Field(48, ge=2, le=100_000)  # distinct feed rounds needed in that span
    history_source: Literal["events", "rounds"] = "events"  # AnswerUpdated logs, or getRoundData walks
    max_rounds: int = Field(5_000, ge=10, le=1_000_000)
    log_chunk_blocks: int = Field(10_000, ge=100, le=10_000_000)
    congestion_blocks: int = Field(20, ge=1, le=1_024)  # eth_feeHistory window

    @model_validator(mode="after")
    def _span(self) -> EstimatorConfig:
        if self.min_history_hours > self.history_hours:
            raise ValueError("min_history_hours must not exceed history_hours")
        return self


class GovernedBounds(_Strict):
    """Policy bounds of a parameter outside the registry (changed only through the timelock)."""

    min: int = Field(ge=1, le=10_000)
    max: int = Field(ge=1, le=10_000)
    max_step: int = Field(ge=1, le=10_000)
    min_interval_seconds: int = Field(ge=0, le=90 * 86_400)

    @model_validator(mode="after")
    def _order(self) -> GovernedBounds:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class PolicyConfig(_Strict):
    # margin model (see bastion.risk.margin)
    quantile: float = Field(0.999, gt=0.5, lt=1)
    nu: float = Field(3.5, gt=2, le=100)
    base_liquidation_minutes: float = Field(5.0, gt=0, le=24 * 60)
    # emergency tightenings: used when the stress target exceeds the structural one by this share
    emergency_margin: float = Field(0.2, ge=0, le=10)
    emergency_ttl_seconds: int = Field(6 * 3_600, gt=0, le=30 * 86_400)
    renew_before_seconds: int = Field(3 * 3_600, ge=0, le=30 * 86_400)
    deadband: float = Field(0.02, ge=0, lt=1)  # ignore moves smaller than this share of the current value
    proposal_ttl_seconds: int = Field(7 * 86_400, gt=0, le=90 * 86_400)  # unsigned Safe proposal goes stale
    calibration_report: str | None = None  # a `bastion calibrate` report.json: limiter and oracle targets
    limiter_limit_bps: GovernedBounds = GovernedBounds(min=100, max=5_000, max_step=500, min_interval_seconds=86_400)
    oracle_max_jump_bps: GovernedBounds = GovernedBounds(min=100, max=5_000, max_step=500, min_interval_seconds=86_400)

    @model_validator(mode="after")
    def _renew(self) -> PolicyConfig:
        if self.renew_before_seconds >= self.emergency_ttl_seconds:
            raise ValueError("renew_before_seconds must be shorter than emergency_ttl_seconds")
        return self


class SimulationConfig(_Strict):
    n_paths: int = Field(2_000, ge=10, le=1_000_000)
    seed: int = Field(0, ge=0)
    horizon_hours: float = Field(24.0, gt=0, le=24 * 30)
    step_minutes: int = Field(5, ge=1, le=60)
    n_accounts: int = Field(200, ge=1, le=100_000)


class OutputConfig(_Strict):
    reports_dir: str = "runs/risk/reports"
    store: str = "runs/risk/risk.sqlite"  # SQLite path or database URL (Safe proposals live here)
    display: Literal["auto", "live", "log"] = "auto"
    dry_run: bool = False  # decide and simulate, send nothing


class RiskConfig(_Strict):
    interval_seconds: float = Field(60.0, ge=1, le=3_600)
    markets: list[str] = Field(default_factory=list)  # empty: every market of the manifest
    chain: ChainConfig = ChainConfig()
    keys: KeysConfig = KeysConfig()
    estimators: EstimatorConfig = EstimatorConfig()
    policy: PolicyConfig = PolicyConfig()
    simulation: SimulationConfig = SimulationConfig()
    output: OutputConfig = OutputConfig()


def parse_risk_config(data: dict[str, Any], source: str = "config") -> RiskConfig:
    return validate_settings(RiskConfig, data, source, EXAMPLE)


def load_risk_config(path: str | Path) -> RiskConfig:
    """Read and validate a risk-engine config (TOML or YAML); raise ``ConfigError`` with a one-line message."""
    return parse_risk_config(read_settings_file(path), str(path))
