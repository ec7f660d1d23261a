"""``account_extraction``: net value one account took out of the protocol over a window.

Per account and asset, what the protected holders sent it minus what it sent them over
``window_blocks``: a depositor withdrawing its own deposit nets to zero, an attacker's take does not,
however it is split across transactions. It fires on the block where an account's net take crosses
``max_fraction_bps`` of the protocol's holdings (at the window's start) and is at least ``min_amount``.
Movements are those of ``flows.block_movements`` (ERC-20, native ETH, tokens read directly), so the
account is the direct recipient (an attack contract, or the attacker's own address).
"""

from __future__ import annotations

from pydantic import Field, PositiveInt

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import amount_text, block_movements, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class AccountExtraction(Detector):
    id = "account_extraction"
    severity = Severity.HIGH
    confidence = "medium"
    description = (
        "One account's net take (received from the protocol minus paid in) over a window passes a fraction "
        "of the protocol's holdings"
    )
    recommendation = "Trace the account's transactions; pause what it uses and look for the bug it exploits"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=100, gt=0, le=100_000)
        max_fraction_bps: int = Field(default=1_000, gt=0, le=10_000)
        min_amount: dict[str, PositiveInt] = Field(default_factory=dict, description="asset -> base units")
        assets: list[str] = Field(default_factory=list, description="assets watched (empty: all)")
        ignore: list[str] = Field(default_factory=list, description="accounts never suspected (names, addresses)")

    def _per_block(self, view: ChainView, block: Block) -> dict[tuple[str, str], int]:
        def compute(b: Block) -> dict[tuple[str, str], int]:
            out: dict[tuple[str, str], int] = {}
            for m in block_movements(b, view, self.config.assets):
                if m.counterparty.startswith("0x"):
                    out[(m.token, m.counterparty)] = out.get((m.token, m.counterparty), 0) + m.amount
            return out

        return view.history.derive(block, f"extraction:{','.join(sorted(self.config.assets))}", compute)

    def _window_totals(
        self, view: ChainView, block: Block, window: list[Block]
    ) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """Each account's take and each token's net outflow over ``window`` (ending at ``block``): the
        previous block's totals plus this block minus the block that left, when those are memoized (the
        usual case), else one pass over the window. Per-block cost does not grow with the window."""
        cfg = self.config
        name = f"extraction_window:{cfg.window_blocks}:{','.join(sorted(cfg.assets))}"

        def compute(b: Block) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
            prev = window[-2] if len(window) > 1 and window[-2].number == b.number - 1 else None
            before = view.history.peek(prev, name) if prev is not None else None
            if before is None:
                parts, takes, net = window, {}, {}
            else:
                parts, takes, net = [b], dict(before[0]), dict(before[1])
                gone = view.history.window(prev, blocks=cfg.window_blocks)[0]
                if gone.number == b.number - cfg.window_blocks:
                    for key, v in self._per_block(view, gone).items():
                        takes[key] = takes.get(key, 0) - v
                        net[key[0]] = net.get(key[0], 0) - v
            for part in parts:
                for key, v in self._per_block(view, part).items():
                    takes[key] = takes.get(key, 0) + v
                    net[key[0]] = net.get(key[0], 0) + v
            if prev is not None:
                view.history.forget(prev, name)  # only the newest totals are needed: one copy, not one per block
            return {k: v for k, v in takes.items() if v}, net

        return view.history.derive(block, name, compute)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        now = {k: v for k, v in self._per_block(view, event).items() if v > 0}
        if not now:
            return []
        ours = frozenset(c.address for c in view.protocol.contracts.values())
        ignored = {view.protocol.resolve(a) for a in cfg.ignore} | ours
        window = view.history.window(event, blocks=cfg.window_blocks)
        minimums = resolve_amounts(view, cfg.min_amount)
        holders = sorted(view.protocol.protected)
        takes, net_out = self._window_totals(view, event, window)
        out = []
        for (token, account), this_block in now.items():
            if account in ignored:
                continue
            take = takes.get((token, account), 0)
            if take < minimums.get(token, 1):
                continue
            balance = sum(view.erc20_balance(token, h, event.number) for h in holders)
            tvl = balance + net_out.get(token, 0)
            if tvl <= 0:
                tvl = balance + take
            if tvl <= 0 or take * 10_000 < cfg.max_fraction_bps * tvl:
                continue
            before = take - this_block
            if before * 10_000 >= cfg.max_fraction_bps * tvl:
                continue  # already past the threshold: reported when it crossed
            out.append(
                self.finding(
                    event,
                    f"{account} took {amount_text(view, token, take)} net in {len(window)} blocks: "
                    f"{take * 10_000 // tvl / 100:.2f}% of the protocol's holdings",
                    subject=token,
                    actor=account,
                    discriminator=f"{token}:{account}",
                    details={
                        "token": token,
                        "account": account,
                        "net_take": take,
                        "tvl": tvl,
                        "fraction_bps": take * 10_000 // tvl,
                        "window_first_block": window[0].number,
                    },
                )
            )
        return out
