"""Per-block ERC-20 flow summaries of protected holders, shared by the flow detectors.

Pure functions of a ``Block`` and the protocol; memoized per block through ``History.derive``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bastion.watch.events import Block, Tx
from bastion.watch.view import ChainView


@dataclass(frozen=True, slots=True)
class Movement:
    """One ERC-20 movement out of or into a protected holder."""

    tx_hash: str
    token: str
    holder: str  # the protected side
    counterparty: str
    amount: int  # > 0 out of the holder, < 0 into it


def _watched(view: ChainView, assets: Iterable[str]) -> frozenset[str] | None:
    chosen = frozenset(view.protocol.resolve(a) for a in assets)
    if chosen:
        return chosen
    return view.protocol.asset_addresses or None  # None: every token


def tx_movements(tx: Tx, protected: frozenset[str], tokens: frozenset[str] | None) -> list[Movement]:
    out = []
    for lg in tx.logs:
        if lg.name != "Transfer" or len(lg.topics) != 3:
            continue
        if tokens is not None and lg.address not in tokens:
            continue
        args = lg.args
        src, dst, value = args["from"], args["to"], args["value"]
        if src in protected and dst in protected:
            continue  # internal rebalancing is not an outflow
        if src in protected:
            out.append(Movement(tx.hash, lg.address, src, dst, value))
        elif dst in protected:
            out.append(Movement(tx.hash, lg.address, dst, src, -value))
    return out


def block_net_outflows(block: Block, view: ChainView, assets: Iterable[str] = ()) -> dict[str, int]:
    """Net outflow per token out of all protected holders in ``block`` (negative: net inflow)."""
    tokens = _watched(view, assets)
    key = "net_outflows:" + ("*" if tokens is None else ",".join(sorted(tokens)))

    def compute(b: Block) -> dict[str, int]:
        protected = view.protocol.protected
        totals: dict[str, int] = {}
        for tx in b.txs:
            if tx.status == 0:
                continue
            for m in tx_movements(tx, protected, tokens):
                totals[m.token] = totals.get(m.token, 0) + m.amount
        return totals

    return view.history.derive(block, key, compute)


def watched_tokens(view: ChainView, assets: Iterable[str]) -> frozenset[str] | None:
    return _watched(view, assets)


def resolve_amounts(view: ChainView, amounts: dict[str, int]) -> dict[str, int]:
    """Thresholds keyed by asset symbol, contract name or address, re-keyed by address."""
    return {view.protocol.resolve(k): v for k, v in amounts.items()}


def block_flow_features(
    block: Block, view: ChainView, assets: Iterable[str] = ()
) -> dict[str, tuple[int, int, int, int]]:
    """Per token: (net outflow, gross outflow, gross inflow, movements) of protected holders in ``block``."""
    tokens = _watched(view, assets)
    key = "flow_features:" + ("*" if tokens is None else ",".join(sorted(tokens)))

    def compute(b: Block) -> dict[str, tuple[int, int, int, int]]:
        protected = view.protocol.protected
        acc: dict[str, list[int]] = {}
        for tx in b.txs:
            if tx.status == 0:
                continue
            for m in tx_movements(tx, protected, tokens):
                row = acc.setdefault(m.token, [0, 0, 0, 0])
                row[0] += m.amount
                if m.amount > 0:
                    row[1] += m.amount
                else:
                    row[2] -= m.amount
                row[3] += 1
        return {t: (r[0], r[1], r[2], r[3]) for t, r in acc.items()}

    return view.history.derive(block, key, compute)


def amount_text(view: ChainView, token: str, amount: int) -> str:
    """``amount`` base units of ``token`` as people read it: ``300,000 USDC`` (decimals from the config's
    assets; raw units and the address for a token the config does not list)."""
    asset = view.protocol.asset(token)
    if asset is None:
        return f"{amount} units of {token}"
    whole = amount / 10**asset.decimals
    text = f"{whole:,.0f}" if whole == int(whole) or whole >= 1_000 else f"{whole:,.6g}"
    return f"{text} {asset.symbol}"
