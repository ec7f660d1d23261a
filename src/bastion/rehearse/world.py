"""The rehearsal world: the reference protocol deployed on a fresh embedded chain, its test world (tokens,
feeds, pools), the actors, and the vulnerable variants a scenario adds.

Set-up runs with automining (one transaction per block); ``World.run_phase`` then hands the chain to
the stepped ``Clock``. Governance decisions made before a rehearsal (the permissive "defences off"
configuration, a proposer granted earlier) are executed as the timelock itself, impersonated on the
local node: they stand for decisions that went through the 48-hour delay long ago.
"""

from __future__ import annotations

import copy
import enum
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from bastion.chain.contracts import Sender, connect, contract_at
from bastion.chain.node import AnvilNode, dev_accounts
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import (
    FEED_DECIMALS,
    HOUR,
    USDC_DECIMALS,
    ZERO,
    Manifest,
    deploy_system,
    dev_keys,
    dev_roles,
)
from bastion.rehearse.chain import Actor, Clock

USD = 10**USDC_DECIMALS
N_ACCOUNTS = 49
FIRST_HONEST = 15
MAX_AMOUNT = (1 << 96) - 1
DAY = 24 * HOUR

# Dev account index of each role (0-8 are the deployment's own roles, see bastion.protocol.deploy).
ROLES: dict[str, int] = {
    "deployer": 0,
    "feeder": 1,  # signs every primary feed
    "safe_owner_1": 2,  # the on-call owner whose key the watchtower holds to PROPOSE Safe transactions
    "safe_owner_2": 3,  # a human co-signer
    "safe_owner_3": 4,
    "watchtower": 5,  # the fast guardian key
    "maker": 6,
    "risk": 7,
    "feeder_secondary": 8,  # signs every secondary feed
    "keeper": 9,
    "arbitrageur": 10,
    "attacker": 11,
    "accomplice": 12,
    "ops_proposer": 13,  # a second timelock proposer (an ops multisig's hot key), compromised in S8
    "backup_guardian": 14,  # the key the guardian role rotates to
}


class Level(enum.StrEnum):
    """Defence levels of a rehearsal run."""

    NONE = "none"  # guards permissive/off, nobody watching
    ONCHAIN = "onchain"  # guards on, nobody watching
    WATCHTOWER = "watchtower"  # guards permissive/off, the watchtower acting
    ALL = "all"  # both

    @property
    def onchain(self) -> bool:
        return self in (Level.ONCHAIN, Level.ALL)

    @property
    def watchtower(self) -> bool:
        return self in (Level.WATCHTOWER, Level.ALL)


def variant_limiter(floor_usd: int = 10_000) -> tuple[int, int, int, int, int, int]:
    """Limiter parameters of a guarded variant: the reference Vault's shape (10% per 6 h, DELAYED)."""
    return (1_000, 6 * HOUR, floor_usd * USD, HOUR, 1, 1)


VARIANT_TX_OUTFLOW_BPS = 2_000  # as the reference Router


@dataclass
class Market:
    symbol: str
    id: bytes
    index: int
    token: Contract
    decimals: int
    primary: Contract
    secondary: Contract
    pool: Contract


@dataclass
class World:
    """Everything a scenario touches. Build with ``World.build(level, seed)``; close with ``close()``."""

    level: Level
    seed: int
    node: AnvilNode
    w3: Web3
    manifest: Manifest
    protocol: Protocol
    clock: Clock
    actors: dict[str, Actor]
    honest: list[Actor]
    markets: dict[str, Market]
    rng: random.Random
    true_price: dict[str, float] = field(default_factory=dict)  # symbol -> USD (simulation float)
    watch_contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    watch_assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: dict[str, Contract] = field(default_factory=dict)
    unit_price_vaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # for the unit_price detector
    start_block: int = 0
    defence: Any = None  # the run's off-chain Defence (set by the harness)
    feed_signers: dict[tuple[str, str], Actor] = field(default_factory=dict)  # (symbol, which) -> signer

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def build(cls, level: Level, seed: int = 1, *, block_time: int = 1) -> World:
        state, manifest = _deployed_state()
        node = AnvilNode(accounts=N_ACCOUNTS, gas_limit=GAS_LIMIT, balance_eth=1_000_000, load_state=state).start()
        try:
            w3 = connect(node.http_url, timeout=30.0)
            accounts = _accounts()
            actors = {name: Actor(name, accounts[i].address, accounts[i].private_key) for name, i in ROLES.items()}
            honest = [
                Actor(f"user{i - FIRST_HONEST:02d}", accounts[i].address, accounts[i].private_key)
                for i in range(FIRST_HONEST, N_ACCOUNTS)
            ]
            protocol = Protocol(w3, manifest)
            markets = {}
            for symbol, m in manifest.markets.items():
                token = contract_at(w3, "MintableToken", m["token"])
                markets[symbol] = Market(
                    symbol,
                    bytes.fromhex(m["id"][2:]),
                    m["index"],
                    token,
                    int(token.functions.decimals().call()),
                    contract_at(w3, "MockAggregator", m["feed_primary"]),
                    contract_at(w3, "MockAggregator", m["feed_secondary"]),
                    contract_at(w3, "ConstantProductPool", m["pool"]),
                )
            world = cls(
                level=level,
                seed=seed,
                node=node,
                w3=w3,
                manifest=manifest,
                protocol=protocol,
                clock=Clock(node, w3, block_time),
                actors=actors,
                honest=honest,
                markets=markets,
                rng=random.Random(seed),
                true_price={s: float(m["price_usd"]) for s, m in manifest.markets.items()},
            )
            for symbol in markets:
                world.feed_signers[(symbol, "primary")] = actors["feeder"]
                world.feed_signers[(symbol, "secondary")] = actors["feeder_secondary"]
            world._describe_for_watch()
            world.configure_guards()
            return world
        except BaseException:
            node.stop()
            raise

    def close(self) -> None:
        self.clock.close()
        self.node.stop()

    # -- handles -----------------------------------------------------------------------------------
    def sender(self, name: str) -> Sender:
        return Sender.from_key(self.w3, self.actors[name].key)

    @property
    def usdc(self) -> Contract:
        return self.protocol.usdc

    @property
    def guarded(self) -> bool:
        """Whether vulnerable variants are deployed with their guards on."""
        return self.level.onchain

    def contract(self, name: str, address: str) -> Contract:
        return contract_at(self.w3, name, address)

    # -- set-up helpers (automine phase) -----------------------------------------------------------
    def governance(self, fn: Any) -> dict:
        """Execute ``fn`` as the timelock (a decision that went through governance before the rehearsal)."""
        timelock = self.manifest.contracts["timelock"]
        self.node.rpc("anvil_impersonateAccount", timelock)
        self.node.rpc("anvil_setBalance", timelock, hex(10**21))
        try:
            tx_hash = self.w3.eth.send_transaction(
                {"from": timelock, "to": fn.address, "data": fn._encode_transaction_data(), "gas": 3_000_000}
            )
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        finally:
            self.node.rpc("anvil_stopImpersonatingAccount", timelock)
        if receipt["status"] != 1:
            raise RuntimeError(f"governance call {fn.fn_name} reverted while setting up the rehearsal")
        return receipt

    def feeder_of(self, symbol: str, which: str) -> Actor:
        """The key that signs the ``which`` feed of ``symbol``."""
        return self.feed_signers[(symbol, which)]

    def one_key_for_both_feeds(self, symbol: str) -> None:
        """Set-up: the secondary's signer hands its feed to the primary's, so one key sets both feeds of
        ``symbol`` (the weakness of class 2: a deployment whose feeds are not independent)."""
        m = self.markets[symbol]
        self.act(self.feeder_of(symbol, "secondary"), m.secondary.functions.setFeeder(self.actors["feeder"].address))
        self.feed_signers[(symbol, "secondary")] = self.actors["feeder"]

    def mint(self, token: Contract, to: str, amount: int) -> None:
        self.act(self.actors["deployer"], token.functions.mint(to, amount))

    def deploy(self, name: str, *args: Any) -> Contract:
        return self.sender("deployer").deploy(name, *args)

    def deploy_variant(self, key: str, name: str, *args: Any, watch_assets: tuple[str, ...] = ()) -> Contract:
        """Deploy a vulnerable variant (guards on iff the level has on-chain defences) and watch it."""
        contract = self.deploy(name, *args)
        self.variants[key] = contract
        self.watch_contracts[key] = {"address": contract.address, "abi": name, "protected": True}
        return contract

    def settle_in(self, seconds: int, *limited: Contract) -> None:
        """Set-up: let ``seconds`` pass (one empty block after them).

        Each contract in ``limited`` (an OutflowLimiter) is settled first: the limiter folds pending
        inflows into its liquidity only at a settlement, so a vault that has only ever received deposits
        would otherwise meet its first withdrawal with the floor's headroom, however long it has run.
        """
        for contract in limited:
            if self.level.onchain or contract.address == self.protocol.vault.address:
                self.act(
                    self.actors["keeper"], contract.functions.releaseLockedFunds(contract.functions.asset().call())
                )
        self.node.increase_time(seconds)
        self.node.mine(1)

    def fund(self, actor: Actor, usd: int) -> None:
        """Mint ``usd`` whole dollars of the stablecoin to ``actor``."""
        self.mint(self.usdc, actor.address, usd * USD)

    def approve(self, actor: Actor, token: Contract, spender: str) -> None:
        self.act(actor, token.functions.approve(spender, 2**256 - 1))

    def act(self, actor: Actor, fn: Any) -> None:
        """Send ``fn`` from ``actor`` and wait (set-up phase only); raise if it fails."""
        rec = self.clock.send(actor, fn, label=f"setup {fn.fn_name}")
        if not rec.ok:
            raise RuntimeError(f"set-up step {fn.fn_name} by {actor.name} failed: {rec.reason or 'reverted'}")

    def read(self, fn: Any, block: int | str = "latest") -> Any:
        """A view call through the fast client."""
        return self.clock.read(fn, block)

    # -- the guards' configuration -----------------------------------------------------------------
    def configure_guards(self) -> None:
        """Defences off (none, watchtower): the loosest configuration governance could choose.

        - Router: per-transaction outflow cap 100%; guardian pauses up to 72 h with a 1-h cooldown;
        - Vault: limiter at 100% per 5 min with a floor above any balance (it never limits);
        - OracleGuard: primary feed only, 3-day heartbeat, 100% jumps, no cooldown, no pool-TWAP reference;
        - Vault: no own-deposit headroom.
        Defences on (onchain, all): the deployment's defaults, unchanged.
        """
        if self.level.onchain:
            return
        p = self.protocol
        self.governance(p.router.functions.setMaxTxOutflow(10_000))
        self.governance(p.router.functions.setPauseParams(72 * HOUR, HOUR, 0))
        self.governance(p.vault.functions.updateAssetParams(self.usdc.address, (10_000, 300, MAX_AMOUNT, 300, 0, 3)))
        for m in self.markets.values():
            cfg = (m.primary.address, 3 * DAY, ZERO, 0, 0, 10_000, 1, 0)
            self.governance(p.oracle.functions.setMarket(m.id, cfg))
            self.governance(p.oracle.functions.setReference(m.id, ZERO, 0, 0))
        self.governance(p.vault.functions.setOwnInflowMemory(0))
        self.node.increase_time(600)  # the loosened limiter refills
        self.node.mine(1)

    # -- prices ------------------------------------------------------------------------------------
    def feed_answer(self, price_usd: float) -> int:
        return round(price_usd * 10**FEED_DECIMALS)

    def usd_value(self, symbol_or_usdc: str, amount: int) -> int:
        """Value in stablecoin units (6 decimals) of ``amount`` base units, at the true price."""
        if symbol_or_usdc == "USDC":
            return amount
        m = self.markets[symbol_or_usdc]
        return int(amount * self.true_price[symbol_or_usdc] * USD / 10**m.decimals)

    def pool_price(self, symbol: str) -> float:
        return self.markets[symbol].pool.functions.spotPrice().call() / WAD

    # -- the watchtower's description of what it protects -----------------------------------------
    def _describe_for_watch(self) -> None:
        c = self.manifest.contracts
        self.watch_contracts = {
            "vault": {"address": c["vault"], "abi": "Vault", "protected": True},
            "router": {"address": c["router"], "abi": "Router", "protected": True},
            "engine": {"address": c["engine"], "abi": "ClearingEngine", "protected": True},
            "oracle_guard": {"address": c["oracle_guard"], "abi": "OracleGuard", "protected": True},
            "registry": {"address": c["registry"], "abi": "ParameterRegistry", "protected": True},
            "timelock": {"address": c["timelock"], "abi": "BastionTimelock", "protected": False, "kind": "timelock"},
            "safe": {"address": c["safe"], "abi": "Safe", "protected": False, "kind": "safe"},
        }
        self.watch_assets = {"USDC": {"address": c["usdc"], "decimals": USDC_DECIMALS}}
        for m in self.markets.values():
            tag = m.symbol.split("-")[0].lower()
            self.watch_contracts[f"feed_{tag}_primary"] = {
                "address": m.primary.address,
                "abi": "MockAggregator",
                "protected": False,
            }
            self.watch_contracts[f"feed_{tag}_secondary"] = {
                "address": m.secondary.address,
                "abi": "MockAggregator",
                "protected": False,
            }
            self.watch_contracts[f"pool_{tag}"] = {
                "address": m.pool.address,
                "abi": "ConstantProductPool",
                "protected": False,
            }
            self.watch_assets[m.token.functions.symbol().call()] = {"address": m.token.address, "decimals": m.decimals}

    # -- phases ------------------------------------------------------------------------------------
    def run_phase(self) -> None:
        """Hand the chain to the stepped clock (no more automining)."""
        self.start_block = self.clock.block_number + 1
        self.clock.stepped()


GAS_LIMIT = 200_000_000


def _accounts() -> list:
    if "accounts" not in _BASE:
        _BASE["accounts"] = dev_accounts(N_ACCOUNTS)
    return _BASE["accounts"]


_BASE: dict[str, Any] = {}


def _deployed_state() -> tuple[Path, Manifest]:
    """The reference system deployed once per process on a throw-away node and dumped to a state file;
    every rehearsal chain starts from a copy of it (a fresh chain, without paying for the deployment)."""
    if "state" not in _BASE:
        tmp = tempfile.TemporaryDirectory(prefix="bastion-rehearse-state-")
        path = Path(tmp.name) / "deployed.json"
        with AnvilNode(accounts=N_ACCOUNTS, gas_limit=GAS_LIMIT, balance_eth=1_000_000, dump_state=path) as node:
            w3 = connect(node.http_url, timeout=30.0)
            accounts = dev_accounts(N_ACCOUNTS)
            manifest = deploy_system(
                Sender.from_key(w3, accounts[0].private_key), dev_roles(accounts), dev_keys(accounts)
            )
        _BASE.update(state=path, manifest=manifest, tmp=tmp)
    return _BASE["state"], copy.deepcopy(_BASE["manifest"])


def log_return_path(rng: random.Random, start: float, seconds: int, sigma_per_sqrt_s: float) -> list[float]:
    """A geometric random walk, one price per second (simulation floats)."""
    out = [start]
    for _ in range(seconds):
        out.append(out[-1] * math.exp(rng.gauss(0.0, sigma_per_sqrt_s)))
    return out
