"""Anomaly score: robust z-score of a protected asset's per-block net outflow against its history.

z = (x - median) / (1.4826 * MAD), with the scale floored at ``min_scale`` (quiet history has
MAD 0). Only outflows are scored. The statistic is a float; the amounts stay integers.
"""

from __future__ import annotations

import statistics

from pydantic import Field

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import block_net_outflows, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class FlowAnomaly(Detector):
    id = "flow_anomaly"
    severity = Severity.MEDIUM
    description = "A block's net outflow of a protected asset is a robust-z-score outlier against recent blocks"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=200, gt=1)
        min_history: int = Field(default=20, gt=0)
        z_threshold: float = Field(default=8.0, gt=0)
        min_amount: dict[str, int] = Field(default_factory=dict, description="ignore outflows below this")
        min_scale: dict[str, int] = Field(default_factory=dict, description="floor of the scale per asset")
        assets: list[str] = Field(default_factory=list)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        now = block_net_outflows(event, view, cfg.assets)
        if not any(v > 0 for v in now.values()):
            return []
        past = view.history.window(event, blocks=cfg.window_blocks)[:-1]
        if len(past) < cfg.min_history:
            return []
        minimums = resolve_amounts(view, cfg.min_amount)
        floors = resolve_amounts(view, cfg.min_scale)
        out = []
        for token, x in now.items():
            if x <= 0 or x < minimums.get(token, 1):
                continue
            series = [block_net_outflows(b, view, cfg.assets).get(token, 0) for b in past]
            med = statistics.median(series)
            mad = statistics.median(abs(v - med) for v in series)
            scale = max(1.4826 * mad, float(floors.get(token, 1)))
            z = (x - med) / scale
            if z < cfg.z_threshold:
                continue
            out.append(
                self.finding(
                    event,
                    f"net outflow of {view.protocol.label(token)} is an outlier (z={z:.1f})",
                    subject=token,
                    discriminator="z",
                    details={
                        "token": token,
                        "net_outflow": x,
                        "median": med,
                        "mad": mad,
                        "z": round(z, 2),
                        "history_blocks": len(series),
                    },
                )
            )
        return out
