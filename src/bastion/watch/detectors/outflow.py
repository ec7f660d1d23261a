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
        if not any(f[1] > 0 for f in now.values()):
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
        for token, (this_net, this_gross, _, _) in now.items():
            if this_gross <= 0:
                continue
            gross, net = self._sums(window, view, token)
            if gross < minimums.get(token, 1):
                continue
            balance = sum(view.erc20_balance(token, h, event.number) for h in holders)
            tvl = balance + net  # at the window's start
            if tvl <= 0:  # everything arrived inside the window: judge against what was there before it left
                tvl = balance + gross
            if tvl <= 0 or gross * 10_000 < cfg.max_fraction_bps * tvl:
                continue
            prev_gross, prev_net = self._sums(prev_window, view, token)
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

    def _sums(self, window: list[Block], view: ChainView, token: str) -> tuple[int, int]:
        """(gross outflow, net outflow) of ``token`` over ``window``."""
        gross = net = 0
        for b in window:
            f = block_flow_features(b, view, self.config.assets).get(token)
            if f is not None:
                net += f[0]
                gross += f[1]
        return gross, net
