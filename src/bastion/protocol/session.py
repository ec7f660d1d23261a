"""A short, scripted trading session on the reference protocol: honest traders, a price move, a keeper.

Used by ``make demo`` and by tests. Everything it does goes through the public Router, as users would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.chain.contracts import Sender, TransactionFailed
from bastion.chain.node import AnvilNode
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import FEED_DECIMALS, USDC_DECIMALS

USD = 10**USDC_DECIMALS


@dataclass
class SessionLog:
    """What happened, in order, for printing and assertions."""

    events: list[str] = field(default_factory=list)
    liquidated: list[str] = field(default_factory=list)
    traders: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.events.append(line)


def move_price(protocol: Protocol, feeders: dict[str, Sender], symbol: str, new_price_usd: float) -> None:
    """Push a new price to both feeds of a market, each by its own signer (the honest feeders' job)."""
    answer = int(new_price_usd * 10**FEED_DECIMALS)
    for which in ("primary", "secondary"):
        feeders[which].transact(protocol.feed(symbol, which).functions.setAnswer(answer))


def run_session(node: AnvilNode, protocol: Protocol, *, trader_indices=(9, 10, 11, 12)) -> SessionLog:
    """Four traders open positions, ETH drops 12% in two steps an hour apart, a keeper liquidates."""
    w3 = protocol.w3
    log = SessionLog()
    accounts = node.accounts
    admin = Sender.from_key(w3, accounts[0].private_key)  # owner of the test stablecoin
    by_address = {a.address: a.private_key for a in accounts}
    feeder = {which: Sender.from_key(w3, by_address[protocol.feed_signer(which)]) for which in ("primary", "secondary")}
    keeper = Sender.from_key(w3, accounts[2].private_key)
    traders = [Sender.from_key(w3, accounts[i].private_key) for i in trader_indices]
    log.traders = [t.address for t in traders]

    plans = [  # (deposit USD, market, size in units, leverage note)
        (40_000, "ETH-PERP", 100 * WAD),  # 300k notional at 3,000 on 40k: 7.5x
        (50_000, "ETH-PERP", -40 * WAD),
        (30_000, "BTC-PERP", 3 * WAD),  # notional 180k: 6x
        (25_000, "BTC-PERP", -2 * WAD),
    ]
    for trader, (usd, symbol, size) in zip(traders, plans, strict=True):
        admin.transact(protocol.usdc.functions.mint(trader.address, usd * USD))
        protocol.approve(trader)
        protocol.deposit(trader, usd * USD)
        protocol.trade(trader, symbol, size)
        side = "long" if size > 0 else "short"
        log.add(f"{trader.address[:10]} deposited {usd:,} USDC and went {side} {abs(size) / WAD:g} {symbol}")

    eth = protocol.manifest.markets["ETH-PERP"]["price_usd"]
    for step, factor in enumerate((0.94, 0.88), start=1):
        node.increase_time(3600)
        move_price(protocol, feeder, "ETH-PERP", eth * factor)
        log.add(f"hour {step}: ETH moves to {eth * factor:,.0f} USD")
    move_price(protocol, feeder, "BTC-PERP", protocol.manifest.markets["BTC-PERP"]["price_usd"] * 1.03)

    for address in protocol.accounts():
        state = protocol.account(address)
        if not state.liquidatable:
            continue
        try:
            protocol.liquidate(keeper, address)
            log.liquidated.append(address)
            equity, maintenance = state.equity / USD, state.maintenance / USD
            log.add(f"keeper liquidated {address[:10]} (equity {equity:,.0f} < maintenance {maintenance:,.0f})")
        except TransactionFailed as exc:
            log.add(f"liquidation of {address[:10]} refused: {exc}")

    winner = traders[1]
    protocol.close(winner, "ETH-PERP")
    free = protocol.account(winner.address).collateral
    protocol.withdraw(winner, free)
    log.add(f"{winner.address[:10]} closed the ETH short and withdrew {free / USD:,.2f} USDC")
    return log
