"""A client for the reference clearinghouse over a deployment manifest.

Every amount is an integer in base units: collateral in the stablecoin's units (1e6 per USDC), sizes in
1e18 per unit of the base asset, prices in 1e18 USD. Writes are signed by the ``Sender`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from bastion.chain.contracts import Sender, contract_at
from bastion.protocol.deploy import Manifest

WAD = 10**18
MAX_UINT = 2**256 - 1


@dataclass(frozen=True)
class AccountState:
    address: str
    collateral: int
    equity: int
    maintenance: int
    initial: int
    positions: dict[str, int]  # market symbol -> size (1e18)

    @property
    def liquidatable(self) -> bool:
        return any(self.positions.values()) and self.equity < self.maintenance


@dataclass(frozen=True)
class MarketState:
    symbol: str
    price: int  # 1e18 USD, the oracle guard's view
    reduce_only: bool
    long_oi: int
    short_oi: int
    funding_index: int
    paused_ops: int  # ScopedPause mask of the market's scope (meaningful while paused_until > now)
    paused_until: int


@dataclass(frozen=True)
class GuardState:
    vault_balance: int
    obligations: int
    insurance_fund: int
    fees: int
    limiter_headroom: int
    limiter_limit: int
    limiter_tripped: bool
    outstanding_claims: int
    settled: bool


@dataclass(frozen=True)
class SettlementState:
    """The engine's EmergencySettlement guard (tally mode): trigger, tally progress, claims."""

    settled: bool
    pool: int  # collateral units available to claimants, fixed at the trigger
    total_claims: int  # Σ tallied claims (final once claims are open)
    tallied: int
    claimants: int  # accounts to tally, fixed at the trigger
    claims_open: bool
    paid: int

    @property
    def haircut(self) -> bool:
        return self.claims_open and self.pool < self.total_claims


class Protocol:
    """Handles on every contract of a deployment, and the user actions of the clearinghouse."""

    def __init__(self, w3: Web3, manifest: Manifest) -> None:
        self.w3 = w3
        self.manifest = manifest
        c = manifest.contracts
        self.usdc = contract_at(w3, "MintableToken", c["usdc"])
        self.vault = contract_at(w3, "Vault", c["vault"])
        self.engine = contract_at(w3, "ClearingEngine", c["engine"])
        self.router = contract_at(w3, "Router", c["router"])
        self.oracle = contract_at(w3, "OracleGuard", c["oracle_guard"])
        self.registry = contract_at(w3, "ParameterRegistry", c["registry"])
        self.timelock = contract_at(w3, "BastionTimelock", c["timelock"])
        self.safe = contract_at(w3, "Safe", c["safe"])
        self.markets = manifest.markets

    # -- helpers -------------------------------------------------------------------------------
    def market_id(self, symbol: str) -> bytes:
        try:
            return bytes.fromhex(self.markets[symbol]["id"][2:])
        except KeyError:
            known = ", ".join(self.markets)
            raise ValueError(f"unknown market {symbol!r}: this deployment has {known}") from None

    def feed(self, symbol: str, which: str = "primary"):
        return contract_at(self.w3, "MockAggregator", self.markets[symbol][f"feed_{which}"])

    def feed_signer(self, which: str = "primary") -> str:
        """Address of the key that signs the ``which`` feed of every market (one key per feed)."""
        roles = self.manifest.roles
        return str(roles["feeder_secondary"] if which == "secondary" else roles["feeder"])

    def pool(self, symbol: str):
        return contract_at(self.w3, "ConstantProductPool", self.markets[symbol]["pool"])

    def base_token(self, symbol: str):
        """The base token of ``symbol`` (the test world's mintable token)."""
        return contract_at(self.w3, "MintableToken", self.markets[symbol]["token"])

    def twap(self, symbol: str):
        return contract_at(self.w3, "PoolTwapFeed", self.markets[symbol]["twap_feed"])

    # -- user actions --------------------------------------------------------------------------
    def approve(self, user: Sender, amount: int = MAX_UINT):
        return user.transact(self.usdc.functions.approve(self.vault.address, amount))

    def deposit(self, user: Sender, amount: int):
        return user.transact(self.router.functions.deposit(amount))

    def withdraw(self, user: Sender, amount: int):
        return user.transact(self.router.functions.withdraw(amount))

    def trade(self, user: Sender, symbol: str, delta: int, price_limit: int = 0):
        return user.transact(self.router.functions.trade(self.market_id(symbol), delta, price_limit))

    def close(self, user: Sender, symbol: str):
        return user.transact(self.router.functions.close(self.market_id(symbol)))

    def liquidate(self, keeper: Sender, account: str):
        return keeper.transact(self.router.functions.liquidate(account))

    def claim_locked(self, anyone: Sender, recipient: str):
        return anyone.transact(self.vault.functions.claimLockedFunds(self.usdc.address, recipient))

    # -- global settlement ---------------------------------------------------------------------
    def trigger_settlement(self, caller: Sender):
        """Governance or the council (the guardian Safe) at any time; anyone once the maker is insolvent."""
        return caller.transact(self.engine.functions.triggerSettlement())

    def tally(self, anyone: Sender, accounts: list[str] | None = None, *, batch: int = 50) -> int:
        """Tally ``accounts`` (default: every account) in batches; returns the transactions sent."""
        candidates = self.accounts() if accounts is None else accounts
        todo = [a for a in candidates if not self.engine.functions.isTallied(a).call()]
        for start in range(0, len(todo), batch):
            anyone.transact(self.engine.functions.tally(todo[start : start + batch]))
        return -(-len(todo) // batch)

    def claim_settlement(self, user: Sender):
        """Take ``user``'s pro-rata share (through the Router, paid to ``user``)."""
        return user.transact(self.router.functions.claimSettlement())

    def settlement_payout(self, address: str) -> tuple[int, int]:
        """(claim, payout) of ``address``; the payout is 0 until claims open and after the claim."""
        claim, payout = self.engine.functions.settlementPayoutOf(address).call()
        return claim, payout

    # -- reads ---------------------------------------------------------------------------------
    def account(self, address: str) -> AccountState:
        equity, maintenance, initial = self.engine.functions.health(address).call()
        positions = {
            symbol: self.engine.functions.positionOf(address, self.market_id(symbol)).call()[0]
            for symbol in self.markets
        }
        return AccountState(
            address=address,
            collateral=self.engine.functions.collateralOf(address).call(),
            equity=equity,
            maintenance=maintenance,
            initial=initial,
            positions=positions,
        )

    def market(self, symbol: str) -> MarketState:
        mid = self.market_id(symbol)
        price, reduce_only = self.oracle.functions.viewPrice(mid).call()
        market = self.engine.functions.marketAt(self.markets[symbol]["index"]).call()
        long_oi, short_oi, funding_index = market[1], market[2], market[3]
        scope = self.router.functions.scopeOf(self.markets[symbol]["scope"]).call()
        return MarketState(symbol, price, reduce_only, long_oi, short_oi, funding_index, scope[0], scope[1])

    def guards(self) -> GuardState:
        asset = self.usdc.address
        return GuardState(
            vault_balance=self.usdc.functions.balanceOf(self.vault.address).call(),
            obligations=self.engine.functions.obligations().call(),
            insurance_fund=self.engine.functions.insuranceFund().call(),
            fees=self.engine.functions.feesAccrued().call(),
            limiter_headroom=self.vault.functions.headroom(asset).call(),
            limiter_limit=self.vault.functions.currentLimit(asset).call(),
            limiter_tripped=self.vault.functions.isRateLimitTriggered(asset).call(),
            outstanding_claims=self.vault.functions.outstandingClaims().call(),
            settled=self.engine.functions.settled().call(),
        )

    def settlement(self) -> SettlementState:
        e = self.engine.functions
        return SettlementState(
            settled=e.settled().call(),
            pool=e.settlementPool().call(),
            total_claims=e.totalClaims().call(),
            tallied=e.talliedAccounts().call(),
            claimants=e.claimantCount().call(),
            claims_open=e.claimsOpen().call(),
            paid=e.paidTotal().call(),
        )

    def accounts(self) -> list[str]:
        n = self.engine.functions.accountCount().call()
        return [self.engine.functions.accounts(i).call() for i in range(n)]
