"""Per-block flow summaries of protected holders, shared by the flow detectors.

A movement is value leaving (or entering) a protected holder:

- ERC-20 ``Transfer`` logs, per transaction;
- native ETH (the asset address ``NATIVE``, 0xeeee...eeee): the value of every successful call frame
  of the traces (a top-level call, an internal call, a self-destruct), per transaction; without
  traces, the top-level value in and a block-level balance delta for what left;
- tokens that emit no ``Transfer`` (an asset with ``transfer_events = false``): the protected holders'
  balances read at the block and the one before, a block-level movement (no transaction).

Pure functions of a ``Block``, the protocol and read-only chain reads; memoized per block through
``History.derive``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bastion.watch.events import Block, Tx
from bastion.watch.protocol import Asset
from bastion.watch.view import NATIVE, ChainView


@dataclass(frozen=True, slots=True)
class Movement:
    """One ERC-20 movement out of or into a protected holder."""

    tx_hash: str | None  # None: a block-level balance delta
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


def _native_movements(tx: Tx, block: Block, protected: frozenset[str]) -> list[Movement]:
    """ETH moved by ``tx``'s successful call frames (those under a reverted frame moved nothing)."""
    frames = [f for f in block.traces or () if f.tx_hash == tx.hash]
    failed = [f.path for f in frames if f.error is not None]
    out = []
    for f in frames:
        if f.value <= 0 or f.to is None or f.call_type in ("DELEGATECALL", "STATICCALL", "CALLCODE"):
            continue
        if any(f.path[: len(p)] == p for p in failed):
            continue
        if f.sender in protected and f.to not in protected:
            out.append(Movement(tx.hash, NATIVE, f.sender, f.to, f.value))
        elif f.to in protected and f.sender not in protected:
            out.append(Movement(tx.hash, NATIVE, f.to, f.sender, -f.value))
    return out


def block_movements(block: Block, view: ChainView, assets: Iterable[str] = ()) -> list[Movement]:
    """Every movement of a watched asset out of or into a protected holder in ``block`` (memoized)."""
    tokens = _watched(view, assets)
    key = "movements:" + ("*" if tokens is None else ",".join(sorted(tokens)))

    def compute(b: Block) -> list[Movement]:
        protected = view.protocol.protected
        native = tokens is None or NATIVE in tokens
        read = {a.address for a in view.protocol.assets.values() if not a.transfer_events}
        out: list[Movement] = []
        top_in: dict[str, int] = {}
        for tx in b.txs:
            if tx.status == 0:
                continue
            out.extend(m for m in tx_movements(tx, protected, tokens) if m.token not in read)
            if native and b.traces is not None:
                out.extend(_native_movements(tx, b, protected))
            elif native and tx.value > 0 and tx.to in protected:
                out.append(Movement(tx.hash, NATIVE, tx.to, tx.sender, -tx.value))
                top_in[tx.to] = top_in.get(tx.to, 0) + tx.value
        if b.number == 0:
            return out
        if native and b.traces is None:  # outflows are invisible without traces: the balance says
            for h in sorted(protected):
                left = view.balance(h, b.number - 1) + top_in.get(h, 0) - view.balance(h, b.number)
                if left > 0:
                    out.append(Movement(None, NATIVE, h, "?", left))
        for asset in view.protocol.assets.values():
            if asset.transfer_events or (tokens is not None and asset.address not in tokens):
                continue
            for h in sorted(protected):
                delta = view.erc20_balance(asset.address, h, b.number - 1) - view.erc20_balance(
                    asset.address, h, b.number
                )
                if delta:
                    out.append(Movement(None, asset.address, h, "?", delta))
        return out

    return view.history.derive(block, key, compute)


def block_net_outflows(block: Block, view: ChainView, assets: Iterable[str] = ()) -> dict[str, int]:
    """Net outflow per token out of all protected holders in ``block`` (negative: net inflow); memoized."""
    return {t: f[0] for t, f in block_flow_features(block, view, assets).items()}


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
        acc: dict[str, list[int]] = {}
        for m in block_movements(b, view, assets):
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
    if asset is None and token == NATIVE:
        asset = Asset("ETH", NATIVE, 18)
    if asset is None:
        return f"{amount} units of {token}"
    whole = amount / 10**asset.decimals
    text = f"{whole:,.0f}" if whole == int(whole) or whole >= 1_000 else f"{whole:,.6g}"
    return f"{text} {asset.symbol}"
