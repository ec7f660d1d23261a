"""The ``bastion calibrate`` configuration: TOML or YAML, validated by pydantic (unknown keys rejected).

Amounts are USD, rates are fractions unless the key says ``_bps``. See ``configs/calibrate.example.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bastion.errors import BastionError

M = TypeVar("M", bound=BaseModel)


class ConfigError(BastionError, ValueError):
    """A bad configuration: the message is one line naming the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceConfig(_Strict):
    """How price paths are generated (the same model feeds the stress test and both calibrations)."""

    model: Literal["gbm", "garch", "bootstrap"] = "bootstrap"
    s0: float = Field(40_000.0, gt=0)
    # gbm: annualized volatility and drift, jumps per day with lognormal sizes
    sigma: float = Field(0.8, ge=0, le=10)
    mu: float = Field(0.0, ge=-10, le=10)
    jump_intensity_per_day: float = Field(0.0, ge=0, le=100)
    jump_mean: float = Field(0.0, ge=-1, le=1)
    jump_std: float = Field(0.0, ge=0, le=1)
    # garch: per-hour GARCH(1,1) parameters; fitted on the bundled hourly data when omitted
    garch_omega: float | None = Field(None, gt=0)
    garch_alpha: float | None = Field(None, ge=0, lt=1)
    garch_beta: float | None = Field(None, ge=0, lt=1)
    garch_nu: float | None = Field(None, gt=2)
    # bootstrap: block length of resampled real hourly returns
    block_hours: int = Field(24, ge=1, le=24 * 90)
    demean: bool = True
    vol_scale: float = Field(1.0, gt=0, le=10)  # multiply returns (stress: 1.5 = half as volatile again)


class StressConfig(_Strict):
    n_paths: int = Field(20_000, ge=1, le=10_000_000)
    step_minutes: int = Field(5, ge=1, le=24 * 60)
    horizon_hours: float = Field(24.0, gt=0, le=24 * 365)
    n_accounts: int = Field(200, ge=1, le=100_000)
    long_fraction: float = Field(0.7, ge=0, le=1)
    open_interest: float = Field(50e6, gt=0)
    min_leverage: float = Field(2.0, ge=1)
    book_seed: int = Field(1, ge=0)


class ProtocolConfig(_Strict):
    initial_margin_bps: int = Field(500, gt=0, lt=10_000)
    maintenance_margin_bps: int = Field(250, gt=0, lt=10_000)
    liquidation_penalty_bps: int = Field(100, ge=0, lt=10_000)
    liquidator_share_bps: int = Field(5_000, ge=0, le=10_000)
    insurance_fund: float = Field(500_000.0, ge=0)
    liquidator_capacity_per_step: float = Field(2e6, gt=0)
    depth_1pct: float = Field(5e6, gt=0)
    impact_resilience: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _margins(self) -> ProtocolConfig:
        if self.maintenance_margin_bps > self.initial_margin_bps:
            raise ValueError("maintenance_margin_bps must not exceed initial_margin_bps")
        return self


class ThresholdGrid(_Strict):
    min: float = Field(gt=0, lt=10)
    max: float = Field(gt=0, lt=10)
    count: int = Field(24, ge=2, le=200)

    @model_validator(mode="after")
    def _order(self) -> ThresholdGrid:
        if self.max <= self.min:
            raise ValueError("max must be greater than min")
        return self


class LimiterConfig(_Strict):
    """Outflow limiter (OutflowLimiter.sol, DELAYED mode): a token bucket of ``L = max(floor, TVL * threshold)``
    refilled over ``window_hours``; the threshold is ``limitBps / 10_000``."""

    n_paths: int = Field(4_000, ge=1, le=1_000_000)
    step_minutes: int = Field(10, ge=1, le=24 * 60)
    horizon_days: float = Field(14.0, gt=0, le=3650)
    window_hours: float = Field(6.0, ge=5 / 60, le=24 * 30)  # the contract's window: 5 min .. 30 days
    floor: float = Field(50_000.0, gt=0)
    cooldown_minutes: float = Field(60.0, ge=5, le=7 * 24 * 60)  # trip length: 5 min .. 7 days
    credit_shift: int = Field(1, ge=0, le=3)  # inflow credit cap L >> shift (3: none)
    tvl: float = Field(100e6, gt=0)
    thresholds: ThresholdGrid = ThresholdGrid(min=0.01, max=0.6, count=24)
    # honest flows (fractions of TVL): noise per sqrt(day), panic outflow per unit of price drop, whales
    flow_vol_daily: float = Field(0.02, ge=0, le=1)
    panic_beta: float = Field(0.5, ge=0, le=20)
    whale_rate_per_day: float = Field(0.5, ge=0, le=100)
    whale_median_fraction: float = Field(0.01, gt=0, le=1)
    whale_sigma: float = Field(1.0, ge=0, le=5)
    tvl_reversion_per_day: float = Field(0.1, ge=0, le=10)
    # attacks: a drain of a log-uniform fraction of TVL over 1..attack_max_steps steps
    attack_min_fraction: float = Field(0.02, gt=0, le=1)
    attack_max_fraction: float = Field(1.0, gt=0, le=1)
    attack_max_steps: int = Field(12, ge=1, le=10_000)
    adaptive_fraction: float = Field(0.5, ge=0, le=1)
    response_minutes: float = Field(60.0, gt=0)


class OracleConfig(_Strict):
    """Oracle guard (OracleGuard.sol): a price more than ``threshold`` (= ``maxJumpBps / 10_000``) from the
    interval's anchor is a jump; two agreeing feeds accept it with a reduce-only cooldown, one feed waits
    for a confirming round."""

    n_paths: int = Field(4_000, ge=1, le=1_000_000)
    update_minutes: int = Field(60, ge=1, le=24 * 60)  # time between feed rounds
    jump_interval_minutes: float = Field(60.0, gt=0, le=24 * 60)  # the anchor rolls at most this often
    cooldown_minutes: float = Field(15.0, ge=0, le=24 * 60)
    feeds: Literal[1, 2] = 2
    horizon_days: float = Field(30.0, gt=0, le=3650)
    thresholds: ThresholdGrid = ThresholdGrid(min=0.005, max=0.5, count=24)
    exposure: float = Field(10e6, gt=0)  # notional an attacker profits on per unit of accepted deviation
    attack_min_deviation: float = Field(0.01, gt=0, lt=1)
    attack_max_deviation: float = Field(0.5, gt=0, lt=1)
    adaptive_fraction: float = Field(0.5, ge=0, le=1)


class CostConfig(_Strict):
    false_trip_cost: float = Field(250_000.0, ge=0)  # USD-equivalent harm of freezing honest users once
    attacks_per_year: float = Field(1.0, ge=0)


class MetricsConfig(_Strict):
    bootstrap_samples: int = Field(400, ge=10, le=100_000)
    confidence: float = Field(0.95, gt=0, lt=1)


class CalibrateConfig(_Strict):
    seed: int = Field(7, ge=0)
    # Price histories (``NAME=FILE`` or ``FILE``, relative to the config file) replacing the bundled one;
    # ``--prices`` on the command line replaces this list.
    prices: list[str] = []
    shard_paths: int = Field(2_000, ge=1, le=1_000_000)
    output_dir: str = "runs/calibrate"
    price: PriceConfig = PriceConfig()
    stress: StressConfig = StressConfig()
    protocol: ProtocolConfig = ProtocolConfig()
    limiter: LimiterConfig = LimiterConfig()
    oracle: OracleConfig = OracleConfig()
    costs: CostConfig = CostConfig()
    metrics: MetricsConfig = MetricsConfig()


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def validate_settings(model: type[M], data: dict[str, Any], source: str, example: str) -> M:
    """Validate ``data`` against ``model``; the first problem becomes a one-line ``ConfigError`` naming its key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = err["msg"].replace("\n", " ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key (check the spelling against {example})"
        raise ConfigError(f"{source}: {_where(err['loc'])}: {msg}{more}") from None


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) file into a dict; raise ``ConfigError`` with a one-line message."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data = tomllib.loads(text)
        elif p.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{p}: unknown config format (use .toml, .yaml or .yml)")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{p}: cannot parse: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a table of settings")
    return data


def parse_config(data: dict[str, Any], source: str = "config") -> CalibrateConfig:
    return validate_settings(CalibrateConfig, data, source, "configs/calibrate.example.toml")


def load_config(path: str | Path) -> CalibrateConfig:
    """Read and validate a calibration config (TOML or YAML)."""
    return parse_config(read_settings_file(path), str(path))
