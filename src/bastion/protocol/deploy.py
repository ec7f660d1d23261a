"""Deploy the whole Bastion system (test world, guards, governance, reference protocol) and describe it.

The deployer acts as governance while it wires everything, then hands governance of every guard to the
timelock, whose proposer is the guardian Safe: it proposes the timelock's address (predicted from its own
nonce) on every guard, then deploys the timelock, whose constructor accepts (two-step hand-over, no delay).
The result is a ``Manifest``: chain id, addresses, roles, parameters and the deployment block, written as
JSON for clients, the watchtower and rehearsals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from bastion.chain.contracts import Sender, TransactionFailed, contract_at

USDC_DECIMALS = 6
FEED_DECIMALS = 8
ZERO = "0x0000000000000000000000000000000000000000"
HOUR = 3600


def market_id(symbol: str) -> bytes:
    """bytes32 market id, e.g. market_id("ETH-PERP")."""
    raw = symbol.encode()
    if len(raw) > 32:
        raise ValueError(f"market symbol {symbol!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


def param_key(market: bytes, name: str) -> bytes:
    """The registry key of parameter ``name`` of ``market``: keccak256(abi.encode(market, keccak(name)))."""
    return keccak(market + keccak(text=name))


@dataclass(frozen=True)
class MarketSpec:
    symbol: str  # e.g. "ETH-PERP"
    base_symbol: str  # e.g. "WETH"
    base_decimals: int
    price_usd: int  # initial oracle price, whole dollars
    max_open_interest: int  # base units (1e18 per unit)
    pool_base_liquidity: int  # whole base tokens in the AMM pool


@dataclass(frozen=True)
class Rule:
    """A registry rule: base value, hard bounds, max step, min interval, what counts as tighter."""

    base: int
    min: int
    max: int
    max_step: int
    higher_is_tighter: bool
    min_interval: int = HOUR
    max_ttl: int = 7 * 24 * HOUR


def default_rules(spec: MarketSpec) -> dict[str, Rule]:
    oi = spec.max_open_interest
    return {
        "initialMarginBps": Rule(1_000, 200, 5_000, 500, True),
        "maintenanceMarginBps": Rule(500, 100, 2_500, 250, True),
        "maxOpenInterest": Rule(oi, oi // 100, oi * 10, oi // 2, False),
        "tradingFeeBps": Rule(10, 1, 100, 10, True),
        "liquidationPenaltyBps": Rule(100, 25, 500, 50, True),
        "maxFundingRatePerDay": Rule(10**15, 10**13, 10**17, 10**15, True),
    }


# Each market's pool TWAP (averaged over >= 30 min) is the OracleGuard's independent reference: a price
# handed out stays within REFERENCE_BOUND_BPS of it, and a jump beyond that is not accepted on the feeds'
# word alone (docs/guards/oracle-guard.md says why 10%). A keeper calls PoolTwapFeed.update() every window.
TWAP_WINDOW = 30 * 60
REFERENCE_BOUND_BPS = 1_000
# A user's own deposits of the last week come back without using the limiter's shared headroom.
OWN_INFLOW_MEMORY = 7 * 24 * HOUR

DEFAULT_MARKETS = (
    MarketSpec("ETH-PERP", "WETH", 18, 3_000, 2_000 * 10**18, 2_000),
    MarketSpec("BTC-PERP", "WBTC", 8, 60_000, 100 * 10**18, 100),
)


@dataclass(frozen=True)
class Roles:
    """Who holds which key. Dev accounts by default; any addresses on a real network."""

    deployer: str
    feeder: str  # signs every market's primary feed
    safe_owners: tuple[str, str, str]
    watchtower: str  # fast guardian key: bounded pauses, trip extensions, forced reduce-only
    maker: str  # backstop liquidity provider
    risk: str  # the risk engine's key in the parameter registry
    feeder_secondary: str  # signs every secondary feed: no single key sets both feeds of a market


@dataclass
class Manifest:
    """What was deployed where: the input of every client, watchtower and rehearsal."""

    chain_id: int
    deployment_block: int
    contracts: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str | list[str]] = field(default_factory=dict)
    markets: dict[str, dict] = field(default_factory=dict)
    parameters: dict[str, int | str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text())
            manifest = cls(**data)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"manifest {path} is unreadable ({exc}): write one with `bastion deploy`") from None
        for key in ("contracts", "roles", "markets", "parameters"):
            if not isinstance(getattr(manifest, key), dict):
                raise ValueError(
                    f"manifest {path}: {key!r} must be an object (name -> entry): write one with `bastion deploy`"
                )
        return manifest


def dev_roles(accounts) -> Roles:
    """Roles for the embedded chain's dev accounts (at least 9)."""
    if len(accounts) < 9:
        raise ValueError(f"the dev chain needs at least 9 accounts for the roles, got {len(accounts)}")
    a = [acct.address for acct in accounts]
    return Roles(a[0], a[1], (a[2], a[3], a[4]), a[5], a[6], a[7], a[8])


def deploy_safe(sender: Sender, owners: tuple[str, ...], threshold: int) -> Contract:
    """Deploy a real Safe 1.4.1 (singleton + proxy factory) with ``owners`` and ``threshold``."""
    singleton = sender.deploy("Safe")
    factory = sender.deploy("SafeProxyFactory")
    setup = singleton.functions.setup(list(owners), threshold, ZERO, b"", ZERO, ZERO, 0, ZERO)
    receipt = sender.transact(
        factory.functions.createProxyWithNonce(singleton.address, setup._encode_transaction_data(), 0)
    )
    created = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    return contract_at(sender.w3, "Safe", created[0]["args"]["proxy"])


def deploy_system(
    sender: Sender,
    roles: Roles,
    keys: Mapping[str, str],
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS,
    *,
    timelock_delay: int = 48 * HOUR,
    reference_bound_bps: int = REFERENCE_BOUND_BPS,
    own_inflow_memory: int = OWN_INFLOW_MEMORY,
    maker_collateral: int = 2_000_000 * 10**USDC_DECIMALS,
    insurance: int = 100_000 * 10**USDC_DECIMALS,
) -> Manifest:
    """Deploy everything and hand governance to the timelock; return the manifest.

    ``keys`` maps the addresses of the roles the deployment must act as (both feeders, maker) to their
    keys; they sign a few set-up transactions and are never stored. ``reference_bound_bps`` 0 leaves the
    OracleGuard on the two feeds alone; ``own_inflow_memory`` 0 turns own-deposit headroom off.
    """
    w3 = sender.w3
    me = sender.address
    start_block = w3.eth.block_number + 1
    m = Manifest(chain_id=w3.eth.chain_id, deployment_block=start_block)
    c = m.contracts

    # Test world: stablecoin, volatile tokens, feeds, AMM pools.
    usdc = sender.deploy("MintableToken", "USD Coin", "USDC", USDC_DECIMALS, me)
    c["usdc"] = usdc.address

    # Governance: the guardian Safe, the timelock (the Safe proposes and cancels), the registry.
    safe = deploy_safe(sender, roles.safe_owners, 2)
    c["safe"] = safe.address
    registry = sender.deploy("ParameterRegistry", me, roles.watchtower, roles.risk)
    oracle = sender.deploy("OracleGuard", me, roles.watchtower)
    c["registry"], c["oracle_guard"] = registry.address, oracle.address

    limiter = (1_000, 6 * HOUR, 50_000 * 10**USDC_DECIMALS, HOUR, 1, 1)  # 10%/6h, floor 50k, 1h trip, DELAYED
    vault = sender.deploy("Vault", usdc.address, me, roles.watchtower, limiter)
    engine = sender.deploy(
        "ClearingEngine", me, safe.address, vault.address, oracle.address, registry.address, roles.maker, USDC_DECIMALS
    )
    router = sender.deploy("Router", me, roles.watchtower, engine.address, 2_000)
    c["vault"], c["engine"], c["router"] = vault.address, engine.address, router.address
    sender.transact(vault.functions.setEngine(engine.address))
    sender.transact(engine.functions.setRouter(router.address))
    # Limiter claims wait while the Router pauses withdrawals for an incident.
    sender.transact(vault.functions.setPauseSource(router.address))
    if own_inflow_memory:
        sender.transact(vault.functions.setOwnInflowMemory(own_inflow_memory))

    for index, spec in enumerate(markets):
        mid = market_id(spec.symbol)
        token = sender.deploy(
            "MintableToken", f"Wrapped {spec.base_symbol[1:]}", spec.base_symbol, spec.base_decimals, me
        )
        answer = spec.price_usd * 10**FEED_DECIMALS
        primary = sender.deploy("MockAggregator", FEED_DECIMALS, f"{spec.base_symbol} / USD", roles.feeder)
        secondary = sender.deploy(
            "MockAggregator", FEED_DECIMALS, f"{spec.base_symbol} / USD (secondary)", roles.feeder_secondary
        )
        for feed, signer in ((primary, roles.feeder), (secondary, roles.feeder_secondary)):
            (Sender.from_key(w3, _key_for(keys, signer)) if signer != me else sender).transact(
                feed.functions.setAnswer(answer)
            )
        sender.transact(
            oracle.functions.setMarket(
                mid, (primary.address, 3 * HOUR, secondary.address, 3 * HOUR, 200, 1_500, HOUR, 15 * 60)
            )
        )
        for name, rule in default_rules(spec).items():
            rules = (rule.min, rule.max, 0, rule.higher_is_tighter, rule.max_step, rule.min_interval, rule.max_ttl)
            sender.transact(registry.functions.register(param_key(mid, name), rules, rule.base, b"\0" * 32))
            m.parameters[f"{spec.symbol}.{name}"] = rule.base
        sender.transact(engine.functions.addMarket(mid))
        pool = sender.deploy("ConstantProductPool", token.address, usdc.address, spec.base_decimals, USDC_DECIMALS)
        base_amount = spec.pool_base_liquidity * 10**spec.base_decimals
        quote_amount = spec.pool_base_liquidity * spec.price_usd * 10**USDC_DECIMALS
        sender.transact(token.functions.mint(pool.address, base_amount))
        sender.transact(usdc.functions.mint(pool.address, quote_amount))
        sender.transact(pool.functions.sync())
        # The pool's TWAP: an independent reference no feed signer controls; it bounds the feeds in the
        # OracleGuard (docs/guards/oracle-guard.md).
        twap = sender.deploy("PoolTwapFeed", pool.address, TWAP_WINDOW)
        if reference_bound_bps:
            sender.transact(oracle.functions.setReference(mid, twap.address, 3 * HOUR, reference_bound_bps))
        m.markets[spec.symbol] = {
            "index": index,
            "scope": index + 1,
            "id": "0x" + mid.hex(),
            "token": token.address,
            "feed_primary": primary.address,
            "feed_secondary": secondary.address,
            "pool": pool.address,
            "twap_feed": twap.address,
            "price_usd": spec.price_usd,
        }

    # Seed the maker's capacity and the insurance fund through the protocol's own entry points.
    maker = Sender.from_key(w3, _key_for(keys, roles.maker))
    sender.transact(usdc.functions.mint(roles.maker, maker_collateral))
    maker.transact(usdc.functions.approve(vault.address, 2**256 - 1))
    maker.transact(router.functions.deposit(maker_collateral))
    sender.transact(usdc.functions.mint(me, insurance))
    sender.transact(usdc.functions.approve(vault.address, insurance))
    sender.transact(router.functions.fundInsurance(insurance))

    # Hand governance of every guard to the timelock: propose the address the deployer's next CREATE after
    # the proposals will take, then create the timelock there; its constructor accepts on every guard (and
    # reverts unless each proposed it). Nothing but that CREATE can ever act from the proposed address.
    guards = (registry, oracle, vault, engine, router)
    nonce = w3.eth.get_transaction_count(me, "pending") + len(guards)
    predicted = create_address(me, nonce)
    for guard in guards:
        sender.transact(guard.functions.transferGovernance(predicted))
    if w3.eth.get_transaction_count(me, "pending") != nonce:
        raise TransactionFailed(
            f"deploy: another transaction from {me} took the nonce the timelock was predicted at; "
            "deploy again from an account nothing else sends from"
        )
    timelock = sender.deploy(
        "BastionTimelock", timelock_delay, [safe.address], [ZERO], safe.address, ZERO, [g.address for g in guards]
    )
    c["timelock"] = timelock.address

    m.roles = {
        "governance": timelock.address,
        "guardian_safe": safe.address,
        "safe_owners": list(roles.safe_owners),
        "watchtower": roles.watchtower,
        "feeder": roles.feeder,
        "feeder_secondary": roles.feeder_secondary,
        "maker": roles.maker,
        "risk": roles.risk,
        "deployer": me,
    }
    m.parameters.update(
        {
            "usdc_decimals": USDC_DECIMALS,
            "feed_decimals": FEED_DECIMALS,
            "timelock_delay": timelock_delay,
            "limiter_limit_bps": limiter[0],
            "limiter_window": limiter[1],
            "limiter_floor": limiter[2],
            "max_tx_outflow_bps": 2_000,
            "reference_bound_bps": reference_bound_bps,
            "twap_window": TWAP_WINDOW,
            "own_inflow_memory": own_inflow_memory,
        }
    )
    return m


def create_address(deployer: str, nonce: int) -> str:
    """The address a CREATE from ``deployer`` at ``nonce`` deploys to: keccak(rlp([deployer, nonce]))[12:]."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + bytes.fromhex(deployer[2:]) + encoded_nonce
    return Web3.to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def dev_keys(accounts) -> dict[str, str]:
    """Address -> key for the embedded chain's dev accounts."""
    return {Web3.to_checksum_address(acct.address): acct.private_key for acct in accounts}


def _key_for(keys: Mapping[str, str], address: str) -> str:
    key = keys.get(Web3.to_checksum_address(address))
    if key is None:
        raise ValueError(f"no key for role account {address}: add it to the keys passed to deploy_system")
    return key
