"""The protocol under watch: its protected contracts, its assets, its timelocks and Safes, and (for
the reference clearinghouse) its markets with their feeds and AMM pools.

Built from a deployment manifest JSON or from addresses listed in the config file. Two manifest
shapes are understood:

- the one written by ``bastion.protocol.deploy.Manifest`` (``bastion deploy``): ``contracts`` maps a
  role to an address (usdc, safe, timelock, registry, oracle_guard, vault, engine, router), with
  ``markets``, ``roles`` and ``parameters``; see ``from_deployment``;
- the generic one::

    {"chain_id": 31337,
     "contracts": {"vault": {"address": "0x..", "abi": "Vault", "protected": true},
                   "timelock": {"address": "0x..", "abi": "TimelockController", "kind": "timelock"}},
     "assets": {"USDC": {"address": "0x..", "decimals": 6}}}

``abi`` is a forge artifact name (``load_artifact``) or an inline ABI list; ``kind`` is one of
``contract`` (default), ``timelock``, ``safe``, ``feed`` (a Chainlink-style feed; ``reference`` names
the feed or Uniswap-V2-style pair it is checked against, ``reference_base`` the pair's side it prices),
``pool``.
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
    transfer_events: bool = True  # False: its balances are read directly (the token emits no Transfer)


@dataclass(frozen=True)
class ContractInfo:
    name: str
    address: str
    abi: tuple[Mapping[str, Any], ...] = ()
    protected: bool = True
    kind: str = "contract"
    # a price feed (kind "feed") is compared with this contract: another feed or a V2-style pair
    reference: str | None = None
    reference_base: str = "token0"  # which side of the reference pair the feed prices


@dataclass(frozen=True)
class MarketInfo:
    """One market of the reference clearinghouse: pause scope, oracle feeds and the AMM pool."""

    symbol: str
    index: int
    id: str  # bytes32 market id, 0x hex
    feed_primary: str
    feed_secondary: str | None = None
    pool: str | None = None
    token: str | None = None

    @property
    def scope(self) -> int:
        """The market's ScopedPause scope: index + 1 (0 is every market)."""
        return self.index + 1


@dataclass(frozen=True)
class Protocol:
    name: str
    chain_id: int | None
    contracts: Mapping[str, ContractInfo] = field(default_factory=lambda: MappingProxyType({}))
    assets: Mapping[str, Asset] = field(default_factory=lambda: MappingProxyType({}))
    markets: Mapping[str, MarketInfo] = field(default_factory=lambda: MappingProxyType({}))
    roles: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def protected(self) -> frozenset[str]:
        """Addresses whose funds and powers are guarded."""
        return frozenset(c.address for c in self.contracts.values() if c.protected)

    @property
    def asset_addresses(self) -> frozenset[str]:
        return frozenset(a.address for a in self.assets.values())

    @property
    def feeds(self) -> list[ContractInfo]:
        """Price feeds with a configured reference (``kind = "feed"``, ``reference = ...``)."""
        return [c for c in self.contracts.values() if c.kind == "feed" and c.reference]

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
        """An address from a contract name, an asset symbol, a role or a literal address."""
        if ref in self.contracts:
            return self.contracts[ref].address
        if ref in self.assets:
            return self.assets[ref].address
        role = self.roles.get(ref)
        if isinstance(role, str):
            return addr(role)
        return addr(ref)

    def address_of(self, name: str) -> str | None:
        """The address of contract ``name``, or None when the protocol has no such contract."""
        c = self.contracts.get(name)
        return c.address if c is not None else None

    def market(self, ref: str | int) -> MarketInfo:
        """A market by symbol, 0x id, index (int) or scope string ("scope:1")."""
        if isinstance(ref, int):
            for m in self.markets.values():
                if m.index == ref:
                    return m
        else:
            if ref in self.markets:
                return self.markets[ref]
            low = str(ref).lower()
            for m in self.markets.values():
                if m.id == low:
                    return m
        raise ValueError(f"unknown market {ref!r} (markets: {', '.join(self.markets) or 'none'})")

    def market_of_feed(self, feed: str) -> MarketInfo | None:
        for m in self.markets.values():
            if feed in (m.feed_primary, m.feed_secondary):
                return m
        return None

    def market_of_pool(self, pool: str) -> MarketInfo | None:
        for m in self.markets.values():
            if m.pool == pool:
                return m
        return None

    def asset(self, address: str) -> Asset | None:
        for a in self.assets.values():
            if a.address == address:
                return a
        return None


def _abi(value: Any) -> tuple[Mapping[str, Any], ...]:
    """A config's ABI: inline, or an artifact name looked up in the user's project first (their ``Vault``
    is not Bastion's)."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(value)
    from bastion.chain.artifacts import load_artifact

    return tuple(load_artifact(str(value), project_first=True).abi)


def _bundled_abi(name: str | None) -> list[Mapping[str, Any]] | None:
    """The ABI of one of Bastion's own contracts (a ``bastion deploy`` manifest names only those)."""
    if name is None:
        return None
    from bastion.chain.artifacts import load_artifact

    return list(load_artifact(name).abi)


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
            c.get("reference"),
            str(c.get("reference_base") or "token0"),
        )
        for n, c in contracts.items()
    }
    ass = {
        s: Asset(s, addr(a["address"]), int(a.get("decimals", 18)), bool(a.get("transfer_events", True)))
        for s, a in assets.items()
    }
    return Protocol(name, chain_id, MappingProxyType(cs), MappingProxyType(ass))


def is_deployment(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a ``bastion.protocol.deploy.Manifest`` (contracts map names to addresses)."""
    contracts = data.get("contracts")
    return (
        isinstance(contracts, Mapping)
        and bool(contracts)
        and all(isinstance(v, str) for v in contracts.values())
        and "deployment_block" in data
    )


# Reference clearinghouse: what each deployed contract is to the watchtower.
# name -> (forge artifact, protected, kind)
DEPLOYMENT_CONTRACTS: dict[str, tuple[str, bool, str]] = {
    "vault": ("Vault", True, "contract"),
    "engine": ("ClearingEngine", True, "contract"),
    "router": ("Router", True, "contract"),
    "usdc": ("MintableToken", False, "contract"),
    "oracle_guard": ("OracleGuard", False, "contract"),
    "registry": ("ParameterRegistry", False, "contract"),
    "timelock": ("BastionTimelock", False, "timelock"),
    "safe": ("Safe", False, "safe"),
}


def from_deployment(data: Mapping[str, Any], name: str = "protocol") -> Protocol:
    """A ``Protocol`` from the JSON of a ``bastion.protocol.deploy.Manifest``.

    Protected: vault, engine, router. The protected asset: the stablecoin (``usdc``) held by the vault.
    Markets keep their feeds and pools (registered as unprotected contracts, with their ABIs, so their
    events decode), the roles and parameters are kept as given. Unknown contract names are kept
    (unprotected, no ABI)."""
    contracts: dict[str, dict[str, Any]] = {}
    for cname, address in data["contracts"].items():
        artifact, protected, kind = DEPLOYMENT_CONTRACTS.get(cname, (None, False, "contract"))
        abi = _bundled_abi(artifact)
        contracts[cname] = {"address": address, "abi": abi, "protected": protected, "kind": kind}
    params = dict(data.get("parameters") or {})
    assets: dict[str, dict[str, Any]] = {}
    if "usdc" in data["contracts"]:
        assets["USDC"] = {"address": data["contracts"]["usdc"], "decimals": int(params.get("usdc_decimals", 6))}
    markets: dict[str, MarketInfo] = {}
    for symbol, m in (data.get("markets") or {}).items():
        info = MarketInfo(
            symbol=symbol,
            index=int(m["index"]),
            id=str(m["id"]).lower(),
            feed_primary=addr(m["feed_primary"]),
            feed_secondary=addr(m["feed_secondary"]) if m.get("feed_secondary") else None,
            pool=addr(m["pool"]) if m.get("pool") else None,
            token=addr(m["token"]) if m.get("token") else None,
        )
        markets[symbol] = info
        contracts[f"{symbol}.feed_primary"] = {
            "address": info.feed_primary,
            "abi": _bundled_abi("MockAggregator"),
            "protected": False,
        }
        if info.feed_secondary:
            contracts[f"{symbol}.feed_secondary"] = {
                "address": info.feed_secondary,
                "abi": _bundled_abi("MockAggregator"),
                "protected": False,
            }
        if info.pool:
            pool_abi = _bundled_abi("ConstantProductPool")
            contracts[f"{symbol}.pool"] = {"address": info.pool, "abi": pool_abi, "protected": False}
    base = build_protocol(data.get("name", name), data.get("chain_id"), contracts, assets)
    roles = {
        k: (v.lower() if isinstance(v, str) else [str(x).lower() for x in v])
        for k, v in (data.get("roles") or {}).items()
    }
    return Protocol(
        base.name,
        base.chain_id,
        base.contracts,
        base.assets,
        MappingProxyType(markets),
        MappingProxyType(roles),
        MappingProxyType(params),
    )


def load_manifest(path: str | Path, name: str = "protocol") -> Protocol:
    """A ``Protocol`` from a manifest file: a ``bastion deploy`` manifest or the generic shape."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"invalid JSON: {exc}"
        raise ValueError(
            f"manifest {path} is unreadable ({why}): write one with `bastion deploy --manifest FILE` "
            "or point --manifest at one"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"manifest {path}: the top level must be an object")
    for key in ("contracts", "assets", "roles", "markets"):
        if key in data and not isinstance(data[key], dict):
            raise ValueError(
                f"manifest {path}: {key!r} must be an object (name -> entry), not {type(data[key]).__name__}: "
                "write one with `bastion deploy --manifest FILE`"
            )
    return protocol_from_data(data, name)


def protocol_from_data(data: Mapping[str, Any], name: str = "protocol") -> Protocol:
    """A ``Protocol`` from a parsed manifest of either shape."""
    if is_deployment(data):
        return from_deployment(data, name)
    return build_protocol(
        data.get("name", name), data.get("chain_id"), data.get("contracts", {}), data.get("assets", {})
    )


def with_overrides(
    base: Protocol,
    name: str,
    chain_id: int | None,
    contracts: Mapping[str, Mapping[str, Any]],
    assets: Mapping[str, Mapping[str, Any]],
) -> Protocol:
    """``base`` with contracts and assets added or replaced (config entries win over the manifest)."""
    cs = dict(base.contracts)
    cs.update(build_protocol(name, chain_id, contracts, {}).contracts)
    ass = dict(base.assets)
    ass.update(build_protocol(name, chain_id, {}, assets).assets)
    return Protocol(
        name,
        chain_id,
        MappingProxyType(cs),
        MappingProxyType(ass),
        base.markets,
        base.roles,
        base.parameters,
    )
