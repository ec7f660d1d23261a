"""Outflow rate: gross outflow per protected asset over a rolling window, against a fraction of TVL.

The off-chain twin of the on-chain outflow limiter, with a lower threshold so that the watchtower
speaks before the limiter trips. Outflow is gross: deposits made inside the window do not offset a
sweep (an attacker can deposit first to hide one). TVL is the protected holders' balance at the
start of the window (current balance plus the window's net outflow). The finding fires on the block
where the window crosses the threshold, not on every block above it.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import amount_text, block_flow_features, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class OutflowRate(Detector):
    id = "outflow_rate"
    severity = Severity.HIGH
    description = (
        "Gross outflow of a protected asset over a rolling window exceeds a fraction of its TVL at the window's start"
    )
    recommendation = "Find the accounts withdrawing; pause withdrawals or tighten the on-chain limit"

    class Config(DetectorConfig):
        window_blocks: int | None = Field(default=50, gt=0, le=100_000)
        window_seconds: int | None = Field(default=None, gt=0, le=30 * 86_400)
        max_fraction_bps: int = Field(default=500, gt=0, le=10_000)
        min_amount: dict[str, PositiveInt] = Field(default_factory=dict, description="ignore windows below this")
        assets: list[str] = Field(default_factory=list)

        @model_validator(mode="after")
        def _window(self):
            if self.window_blocks is None and self.window_seconds is None:
                raise ValueError("set window_blocks or window_seconds")
            return self

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        now = block_flow_features(event, view, cfg.assets)
        window = view.history.window(event, blocks=cfg.window_blocks, seconds=cfg.window_seconds)
        # kept up on every block (a quiet one too), so the next block's sums are incremental
        sums = self._window_sums(view, event, window)
        if not any(f[1] > 0 for f in now.values()):
            return []
        prev_sums = view.history.peek(window[-2], self._name) if len(window) > 1 else None
        prev_window = (
            view.history.window(window[-2], blocks=cfg.window_blocks, seconds=cfg.window_seconds)
            if len(window) > 1
            else []
        )
        minimums = resolve_amounts(view, cfg.min_amount)
        holders = sorted(view.protocol.protected)
        out = []
        for token, (this_net, this_gross, _, _) in now.items():
            if this_gross <= 0:
                continue
            gross, net = sums.get(token, (0, 0))
            if gross < minimums.get(token, 1):
                continue
            balance = sum(view.erc20_balance(token, h, event.number) for h in holders)
            tvl = balance + net  # at the window's start
            if tvl <= 0:  # everything arrived inside the window: judge against what was there before it left
                tvl = balance + gross
            if tvl <= 0 or gross * 10_000 < cfg.max_fraction_bps * tvl:
                continue
            prev_gross, prev_net = (
                prev_sums.get(token, (0, 0)) if prev_sums is not None else self._sums(prev_window, view, token)
            )
            prev_tvl = balance + this_net + prev_net
            if prev_window and prev_tvl > 0 and prev_gross * 10_000 >= cfg.max_fraction_bps * prev_tvl:
                continue  # already above the threshold at the previous block
            out.append(
                self.finding(
                    event,
                    f"{amount_text(view, token, gross)} left the protocol in {len(window)} blocks: "
                    f"{gross * 10_000 // tvl / 100:.2f}% of its TVL",
                    subject=token,
                    discriminator="window",
                    details={
                        "token": token,
                        "gross_outflow": gross,
                        "net_outflow": net,
                        "tvl": tvl,
                        "fraction_bps": gross * 10_000 // tvl,
                        "window_first_block": window[0].number,
                        "blocks_in_window": len(window),
                    },
                )
            )
        return out

    @property
    def _name(self) -> str:
        cfg = self.config
        return f"outflow_window:{cfg.window_blocks}:{cfg.window_seconds}:{','.join(sorted(cfg.assets))}"

    def _window_sums(self, view: ChainView, block: Block, window: list[Block]) -> dict[str, tuple[int, int]]:
        """Per token, (gross outflow, net outflow) over ``window`` (ending at ``block``): the previous
        block's sums plus this block minus the blocks that left the window, when those are memoized (the
        usual case), else one pass over the window. Per-block cost does not grow with the window."""
        cfg = self.config
        name = self._name

        def compute(b: Block) -> dict[str, tuple[int, int]]:
            prev = window[-2] if len(window) > 1 else None
            before = view.history.peek(prev, name) if prev is not None else None
            if before is None:
                sums: dict[str, tuple[int, int]] = {}
                parts, gone = window, []
            else:
                sums, parts = dict(before), [b]
                first = window[0].number
                gone = [
                    x
                    for x in view.history.window(prev, blocks=cfg.window_blocks, seconds=cfg.window_seconds)
                    if x.number < first
                ]
            for sign, blocks in ((1, parts), (-1, gone)):
                for x in blocks:
                    for token, f in block_flow_features(x, view, cfg.assets).items():
                        gross, net = sums.get(token, (0, 0))
                        sums[token] = (gross + sign * f[1], net + sign * f[0])
            return sums

        return view.history.derive(block, name, compute)

    def _sums(self, window: list[Block], view: ChainView, token: str) -> tuple[int, int]:
        """(gross outflow, net outflow) of ``token`` over ``window``."""
        gross = net = 0
        for b in window:
            f = block_flow_features(b, view, self.config.assets).get(token)
            if f is not None:
                net += f[0]
                gross += f[1]
        return gross, net
