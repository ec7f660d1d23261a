"""``emergency_param``: a parameter changed through an emergency power.

Emergency powers skip the timelock by design (a guardian tightens a risk parameter, lifts a limiter
trip, forces reduce-only), so each use is reported: medium when the caller is one the config expects
(the watchtower's own key, named in ``expected``), high for anyone else, since a leaked guardian key
is used exactly this way. Calls are found in the traces (any depth) or, without traces, as the
transaction's own call; only successful ones count. The functions are configurable; the defaults
are the reference protocol's (``ParameterRegistry.emergencyTighten``, the limiter's overrides, the
oracle guard's forced reduce-only) and common emergency setters.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from bastion.watch.detectors.abi import sel
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.control import watched
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

DEFAULT_FUNCTIONS = [
    "emergencyTighten(bytes32,uint256,uint256,bytes32)",
    "overrideRateLimit(address)",
    "extendRateLimit(address,uint256)",
    "forceReduceOnly(bytes32,uint256)",
    "setEmergencyParameter(bytes32,uint256)",
    "emergencySetParameter(bytes32,uint256)",
]


@register
class EmergencyParam(Detector):
    id = "emergency_param"
    severity = Severity.HIGH
    confidence = "medium"
    description = (
        "A parameter changed through an emergency power (no timelock): medium by an expected caller such as "
        "the watchtower's own key, high by anyone else"
    )
    recommendation = "Confirm the caller acted on purpose; if not, rotate the emergency role through governance"

    class Config(DetectorConfig):
        functions: list[str] = Field(default_factory=lambda: list(DEFAULT_FUNCTIONS), min_length=1)
        contracts: list[str] = Field(default_factory=list, description="names or addresses; empty: every contract")
        expected: list[str] = Field(default_factory=list, description="callers reported medium (roles, addresses)")

        @field_validator("functions")
        @classmethod
        def _sigs(cls, value: list[str]) -> list[str]:
            for sig in value:
                name = sig.split("(", 1)[0]
                if "(" not in sig or not sig.endswith(")") or not name.isidentifier():
                    raise ValueError(f"must be function signatures like pause(bytes32) (got {sig!r})")
            return value

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        contracts = watched(view, cfg.contracts)
        table = {sel(f): f for f in cfg.functions}
        expected = set()
        for ref in cfg.expected:
            try:
                expected.add(view.protocol.resolve(ref))
            except ValueError:
                continue  # a role the manifest does not name: nobody is expected
        ok = {tx.hash for tx in event.txs if tx.status != 0}
        calls: list[tuple[str, str, str, bytes, tuple[int, ...]]] = []  # tx, caller, contract, input, path
        if event.traces is not None:
            failed = {(f.tx_hash, f.path) for f in event.traces if f.error is not None}
            for f in event.traces:
                if f.tx_hash not in ok or f.to not in contracts or f.selector not in table:
                    continue
                if f.call_type not in ("CALL", "CALLCODE") or any(
                    (f.tx_hash, f.path[:i]) in failed for i in range(len(f.path) + 1)
                ):
                    continue
                calls.append((f.tx_hash, f.sender, f.to, f.input, f.path))
        else:
            for tx in event.txs:
                if tx.hash in ok and tx.to in contracts and tx.selector in table:
                    calls.append((tx.hash, tx.sender, tx.to, tx.input, ()))
        out = []
        for tx_hash, caller, contract, data, path in calls:
            function = table[data[:4]]
            mine = caller in expected
            out.append(
                self.finding(
                    event,
                    f"{function.split('(')[0]} on {view.protocol.label(contract)} by "
                    f"{view.protocol.label(caller)}" + (" (expected)" if mine else ""),
                    tx_hash=tx_hash,
                    subject=contract,
                    actor=caller,
                    discriminator=".".join(map(str, path)) or "top",
                    severity=Severity.MEDIUM if mine else None,
                    details={
                        "contract": contract,
                        "function": function,
                        "caller": caller,
                        "expected": mine,
                        "args": data[4:],
                    },
                )
            )
        return out
