"""Detector base class and registry.

A detector is a small class::

    @register
    class BigMint(Detector):
        id = "big_mint"
        severity = Severity.HIGH
        description = "A protected asset minted more than max_amount in one transfer"

        class Config(DetectorConfig):
            max_amount: int = Field(gt=0)

        def run(self, event, view):
            cfg = self.config
            return [
                self.finding(event, f"mint of {lg.args['value']}", tx_hash=lg.tx_hash, subject=lg.address)
                for lg in event.logs()
                if lg.name == "Transfer" and lg.args["from"] == ZERO and lg.args["value"] > cfg.max_amount
            ]

``run(event, view)`` is pure: it reads the event (a ``Block``, or a pending ``Tx`` when ``kinds``
includes ``"pending"``) and the read-only ``view``, and returns findings. It keeps no state between
calls: windowed detectors read ``view.history`` (see ``bastion.watch.view``). Its configuration is
a pydantic model validated when the config file is loaded; ``enabled`` and ``severity`` exist on
every detector config.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from bastion.watch.events import Block, Event, Tx
from bastion.watch.findings import Finding, Severity, jsonable
from bastion.watch.view import ChainView

CONFIDENCE = ("high", "medium", "low")


class DetectorConfig(BaseModel):
    """Options common to every detector; subclass it to add a detector's own thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    severity: Severity | None = None  # overrides the detector's default

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        return None if value is None else Severity.parse(value)


class Detector:
    id: ClassVar[str]
    severity: ClassVar[Severity] = Severity.MEDIUM
    description: ClassVar[str] = ""
    confidence: ClassVar[str] = "medium"  # how often a finding is a real attack: high, medium, low
    recommendation: ClassVar[str] = ""  # what an operator should do first
    kinds: ClassVar[frozenset[str]] = frozenset({"block"})
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @property
    def level(self) -> Severity:
        return self.config.severity if self.config.severity is not None else self.severity

    def run(self, event: Event, view: ChainView) -> list[Finding]:
        raise NotImplementedError

    def finding(
        self,
        event: Event,
        title: str,
        *,
        tx_hash: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        discriminator: str = "",
        severity: Severity | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Finding:
        """A finding about ``event`` with this detector's id and severity filled in."""
        if isinstance(event, Block):
            chain_id, number, bhash, ts = event.chain_id, event.number, event.hash, event.timestamp
        else:
            assert isinstance(event, Tx)
            chain_id, number, bhash, ts = 0, event.block_number, event.block_hash, None
            tx_hash = tx_hash or event.hash
        return Finding(
            detector=self.id,
            severity=severity if severity is not None else self.level,
            title=title,
            chain_id=chain_id,
            block_number=number,
            block_hash=bhash,
            tx_hash=tx_hash,
            subject=subject,
            actor=actor,
            discriminator=discriminator,
            block_timestamp=ts,
            details=MappingProxyType(jsonable(dict(details or {}))),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, severity={self.level.label})"


class Registry:
    """Detector classes by id."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Detector]] = {}

    def add(self, cls: type[Detector]) -> type[Detector]:
        for attr in ("id", "severity", "description", "Config"):
            if getattr(cls, attr, None) in (None, ""):
                raise TypeError(f"detector {cls.__name__} lacks class attribute {attr!r}")
        if cls.confidence not in CONFIDENCE:
            raise TypeError(f"detector {cls.__name__}: confidence must be one of {', '.join(CONFIDENCE)}")
        existing = self._classes.get(cls.id)
        if existing is not None and existing is not cls:
            raise ValueError(f"detector id {cls.id!r} is already registered by {existing.__name__}")
        self._classes[cls.id] = cls
        return cls

    def get(self, detector_id: str) -> type[Detector]:
        try:
            return self._classes[detector_id]
        except KeyError:
            raise KeyError(f"unknown detector {detector_id!r} (known: {', '.join(sorted(self._classes))})") from None

    def __contains__(self, detector_id: str) -> bool:
        return detector_id in self._classes

    def ids(self) -> list[str]:
        return sorted(self._classes)

    def items(self) -> Mapping[str, type[Detector]]:
        return MappingProxyType(self._classes)

    def build(self, configs: Mapping[str, Mapping[str, Any] | DetectorConfig]) -> list[Detector]:
        """Instances of the configured, enabled detectors (validated configs or raw mappings)."""
        out = []
        for detector_id, raw in configs.items():
            cls = self.get(detector_id)
            config = raw if isinstance(raw, DetectorConfig) else cls.Config.model_validate(dict(raw))
            if config.enabled:
                out.append(cls(config))
        return out


REGISTRY = Registry()


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: add a detector to the default registry."""
    return REGISTRY.add(cls)
