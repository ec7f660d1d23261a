"""The protocol under watch: its protected contracts, its assets, its timelocks and Safes.

Built from a deployment manifest JSON or from addresses listed in the config file. Manifest shape::

    {"chain_id": 31337,
     "contracts": {"vault": {"address": "0x..", "abi": "Vault", "protected": true},
                   "timelock": {"address": "0x..", "abi": "TimelockController", "kind": "timelock"}},
     "assets": {"USDC": {"address": "0x..", "decimals": 6}}}

``abi`` is a forge artifact name (``load_artifact``) or an inline ABI list; ``kind`` is one of
``contract`` (default), ``timelock``, ``safe``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


def addr(value: str) -> str:
    """A lowercase ``0x`` address; raises ValueError on anything else."""
    text = str(value).strip()
    if not (text.startswith("0x") and len(text) == 42):
        raise ValueError(f"not an address: {text!r}")
    int(text[2:], 16)
    return text.lower()


@dataclass(frozen=True)
class Asset:
    symbol: str
    address: str
    decimals: int = 18


@dataclass(frozen=True)
class ContractInfo:
    name: str
    address: str
    abi: tuple[Mapping[str, Any], ...] = ()
    protected: bool = True
    kind: str = "contract"


@dataclass(frozen=True)
class Protocol:
    name: str
    chain_id: int | None
    contracts: Mapping[str, ContractInfo] = field(default_factory=lambda: MappingProxyType({}))
    assets: Mapping[str, Asset] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def protected(self) -> frozenset[str]:
        """Addresses whose funds and powers are guarded."""
        return frozenset(c.address for c in self.contracts.values() if c.protected)

    @property
    def asset_addresses(self) -> frozenset[str]:
        return frozenset(a.address for a in self.assets.values())

    @property
    def timelocks(self) -> frozenset[str]:
        return frozenset(c.address for c in self.contracts.values() if c.kind == "timelock")

    def label(self, address: str | None) -> str:
        if address is None:
            return "-"
        for c in self.contracts.values():
            if c.address == address:
                return c.name
        for a in self.assets.values():
            if a.address == address:
                return a.symbol
        return address

    def resolve(self, ref: str) -> str:
        """An address from a contract name, an asset symbol or a literal address."""
        if ref in self.contracts:
            return self.contracts[ref].address
        if ref in self.assets:
            return self.assets[ref].address
        return addr(ref)

    def asset(self, address: str) -> Asset | None:
        for a in self.assets.values():
            if a.address == address:
                return a
        return None


def _abi(value: Any) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(value)
    from bastion.chain.artifacts import load_artifact

    return tuple(load_artifact(str(value)).abi)


def build_protocol(
    name: str,
    chain_id: int | None,
    contracts: Mapping[str, Mapping[str, Any]],
    assets: Mapping[str, Mapping[str, Any]],
) -> Protocol:
    cs = {
        n: ContractInfo(
            n,
            addr(c["address"]),
            _abi(c.get("abi")),
            bool(c.get("protected", True)),
            str(c.get("kind", "contract")),
        )
        for n, c in contracts.items()
    }
    ass = {s: Asset(s, addr(a["address"]), int(a.get("decimals", 18))) for s, a in assets.items()}
    return Protocol(name, chain_id, MappingProxyType(cs), MappingProxyType(ass))


def load_manifest(path: str | Path, name: str = "protocol") -> Protocol:
    data = json.loads(Path(path).read_text())
    return build_protocol(
        data.get("name", name), data.get("chain_id"), data.get("contracts", {}), data.get("assets", {})
    )
