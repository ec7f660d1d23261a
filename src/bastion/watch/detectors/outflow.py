"""Outflow rate: net outflow per protected asset over a rolling window, against a fraction of TVL.

The off-chain twin of the on-chain outflow limiter, with a lower threshold so that the watchtower
speaks before the limiter trips. TVL is the protected holders' balance at the start of the window
(current balance plus the window's net outflow). The finding fires on the block where the window
crosses the threshold, not on every block above it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import block_net_outflows, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class OutflowRate(Detector):
    id = "outflow_rate"
    severity = Severity.HIGH
    description = "Net outflow of a protected asset over a rolling window exceeds a fraction of its TVL"

    class Config(DetectorConfig):
        window_blocks: int | None = Field(default=50, gt=0)
        window_seconds: int | None = Field(default=None, gt=0)
        max_fraction_bps: int = Field(default=500, gt=0, le=10_000)
        min_amount: dict[str, int] = Field(default_factory=dict, description="ignore windows below this")
        assets: list[str] = Field(default_factory=list)

        @model_validator(mode="after")
        def _window(self):
            if self.window_blocks is None and self.window_seconds is None:
                raise ValueError("set window_blocks or window_seconds")
            return self

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        now = block_net_outflows(event, view, cfg.assets)
        if not any(v > 0 for v in now.values()):
            return []
        window = view.history.window(event, blocks=cfg.window_blocks, seconds=cfg.window_seconds)
        prev_window = (
            view.history.window(window[-2], blocks=cfg.window_blocks, seconds=cfg.window_seconds)
            if len(window) > 1
            else []
        )
        minimums = resolve_amounts(view, cfg.min_amount)
        holders = sorted(view.protocol.protected)
        out = []
        for token, this_block in now.items():
            if this_block <= 0:
                continue
            net = sum(block_net_outflows(b, view, cfg.assets).get(token, 0) for b in window)
            if net <= 0 or net < minimums.get(token, 1):
                continue
            balance = sum(view.erc20_balance(token, h, event.number) for h in holders)
            tvl = balance + net
            if tvl <= 0 or net * 10_000 < cfg.max_fraction_bps * tvl:
                continue
            prev_net = sum(block_net_outflows(b, view, cfg.assets).get(token, 0) for b in prev_window)
            prev_tvl = balance + this_block + prev_net
            if prev_window and prev_tvl > 0 and prev_net * 10_000 >= cfg.max_fraction_bps * prev_tvl:
                continue  # already above the threshold at the previous block
            label = view.protocol.label(token)
            out.append(
                self.finding(
                    event,
                    f"net outflow of {label} is {net * 10_000 // tvl} bps of TVL over the window",
                    subject=token,
                    discriminator="window",
                    details={
                        "token": token,
                        "net_outflow": net,
                        "tvl": tvl,
                        "fraction_bps": net * 10_000 // tvl,
                        "window_first_block": window[0].number,
                        "blocks_in_window": len(window),
                    },
                )
            )
        return out
