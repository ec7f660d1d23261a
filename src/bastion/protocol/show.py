"""Rich tables of the protocol's state: positions, markets, insurance fund and every guard."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import USDC_DECIMALS

USD = 10**USDC_DECIMALS


def _usd(amount: int) -> str:
    return f"{amount / USD:,.2f}"


def print_state(console: Console, protocol: Protocol, *, title: str = "Protocol state") -> None:
    accounts = Table(title=f"{title}: accounts")
    for col in ("account", "collateral", "equity", "maintenance", *protocol.markets):
        accounts.add_column(col, justify="right")
    maker = protocol.manifest.roles.get("maker")
    for address in protocol.accounts():
        s = protocol.account(address)
        label = f"{address[:10]}{' (maker)' if address == maker else ''}"
        sizes = [f"{s.positions[m] / WAD:+g}" if s.positions[m] else "-" for m in protocol.markets]
        accounts.add_row(label, _usd(s.collateral), _usd(s.equity), _usd(s.maintenance), *sizes)
    console.print(accounts)

    markets = Table(title="Markets (oracle guard, open interest, pause)")
    for col in ("market", "price", "reduce-only", "long OI", "short OI", "paused ops"):
        markets.add_column(col, justify="right")
    for symbol in protocol.markets:
        m = protocol.market(symbol)
        paused = f"{m.paused_ops:#x} until {m.paused_until}" if m.paused_ops else "none"
        markets.add_row(
            symbol, f"{m.price / WAD:,.2f}", str(m.reduce_only), f"{m.long_oi / WAD:g}", f"{m.short_oi / WAD:g}", paused
        )
    console.print(markets)

    g = protocol.guards()
    guards = Table(title="Vault and guards", show_header=False)
    guards.add_row("vault balance (USDC)", _usd(g.vault_balance))
    guards.add_row("owed: equity of all accounts + insurance + fees", _usd(g.obligations))
    guards.add_row("insurance fund", _usd(g.insurance_fund))
    guards.add_row("fees accrued", _usd(g.fees))
    guards.add_row("outflow limiter headroom / limit", f"{_usd(g.limiter_headroom)} / {_usd(g.limiter_limit)}")
    guards.add_row("outflow limiter tripped", str(g.limiter_tripped))
    guards.add_row("withdrawals queued by the limiter", _usd(g.outstanding_claims))
    guards.add_row("emergency settlement", _settlement(protocol) if g.settled else "not triggered")
    console.print(guards)


def _settlement(protocol: Protocol) -> str:
    st = protocol.settlement()
    if not st.claims_open:
        return f"triggered: tallied {st.tallied}/{st.claimants} accounts, claims not open yet"
    cut = f", payouts cut to {st.pool / st.total_claims:.2%}" if st.haircut else ""
    return f"claims open: paid {_usd(st.paid)} of pool {_usd(st.pool)} (claims {_usd(st.total_claims)}{cut})"
