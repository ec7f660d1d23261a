"""Anomaly score of a protected asset's per-block flows against the protocol's own recent history.

Two models (``model``):

- ``zscore`` (default): robust z-score of the block's net outflow,
  z = (x - median) / (1.4826 * MAD). A quiet history has a MAD of zero (or of one base unit), which
  would make any first outflow infinitely surprising, so the scale is floored in token terms: at
  ``min_scale_bps`` of the protected holders' balance, at one whole token, and at ``min_scale`` (base
  units) where given;
- ``isolation_forest``: scikit-learn's IsolationForest fitted on the per-block features (net outflow,
  gross outflow, gross inflow, number of movements) of the window; the block's anomaly score is
  ``-score_samples`` (about 0.5 for ordinary blocks, towards 1 for isolated ones); it fires when the
  score reaches ``if_threshold`` and the block is more isolated than every block of the history, or
  outflows more than any (a forest cannot isolate beyond its training range better than the range's
  own extreme). The forest is refitted every ``refit_blocks`` blocks and memoized on the block it was
  fitted at (``History.derive``), so the detector keeps no state of its own.

Only blocks with a net outflow above ``min_amount`` are scored. Statistics are floats; the amounts
stay integers.
"""

from __future__ import annotations

import statistics
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.detectors.flows import amount_text, block_flow_features, block_net_outflows, resolve_amounts
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView


@register
class FlowAnomaly(Detector):
    id = "flow_anomaly"
    severity = Severity.MEDIUM
    description = "A block's net outflow of a protected asset is a robust-z-score outlier against recent blocks"
    confidence = "low"
    recommendation = "Look at who withdrew; on its own this is a lead, not an attack"

    class Config(DetectorConfig):
        window_blocks: int = Field(default=200, gt=1, le=100_000)
        min_history: int = Field(default=20, gt=0, le=100_000)
        z_threshold: float = Field(default=8.0, gt=0)
        min_amount: dict[str, PositiveInt] = Field(default_factory=dict, description="ignore outflows below this")
        min_scale: dict[str, PositiveInt] = Field(default_factory=dict, description="floor of the scale per asset")
        min_scale_bps: int = Field(default=10, ge=0, le=10_000, description="floor of the scale: bps of balance")
        assets: list[str] = Field(default_factory=list)
        model: Literal["zscore", "isolation_forest"] = "zscore"
        if_threshold: float = Field(default=0.6, gt=0.5, lt=1.0, description="isolation forest score to fire")
        refit_blocks: int = Field(default=20, gt=0)
        n_estimators: int = Field(default=64, gt=0, le=1_000)
        seed: int = 7

        @model_validator(mode="after")
        def _history(self):
            if self.min_history >= self.window_blocks:
                raise ValueError(
                    f"min_history must be below window_blocks (got {self.min_history} >= {self.window_blocks})"
                )
            return self

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
        if cfg.model == "isolation_forest":
            return self._forest(event, view, now, minimums)
        out = []
        for token, x in now.items():
            if x <= 0 or x < minimums.get(token, 1):
                continue
            series = [block_net_outflows(b, view, cfg.assets).get(token, 0) for b in past]
            med = statistics.median(series)
            mad = statistics.median(abs(v - med) for v in series)
            scale = max(1.4826 * mad, float(self._floor(view, event, token, floors)))
            z = (x - med) / scale
            if z < cfg.z_threshold:
                continue
            out.append(
                self.finding(
                    event,
                    f"net outflow of {amount_text(view, token, x)} is an outlier (z={z:.1f})",
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

    def _floor(self, view: ChainView, event: Block, token: str, floors: dict[str, int]) -> int:
        asset = view.protocol.asset(token)
        whole = 10 ** (asset.decimals if asset is not None else 18)
        held = sum(view.erc20_balance(token, h, event.number - 1) for h in sorted(view.protocol.protected))
        return max(floors.get(token, 1), whole, held * self.config.min_scale_bps // 10_000)

    # -- isolation forest -------------------------------------------------------------------------
    def _fit(self, view: ChainView, anchor: Block, token: str) -> Any:
        from sklearn.ensemble import IsolationForest

        cfg = self.config
        rows = [
            block_flow_features(b, view, cfg.assets).get(token, (0, 0, 0, 0))
            for b in view.history.window(anchor, blocks=cfg.window_blocks)
        ]
        forest = IsolationForest(n_estimators=cfg.n_estimators, max_samples=min(256, len(rows)), random_state=cfg.seed)
        x = [[float(v) for v in r] for r in rows]
        forest.fit(x)
        return forest, len(rows), float(max(-forest.score_samples(x))), max(r[0] for r in rows)

    def _forest(self, event: Block, view: ChainView, now: dict[str, int], minimums: dict[str, int]) -> list[Finding]:
        cfg = self.config
        past = view.history.window(event, blocks=cfg.window_blocks)[:-1]
        # fit on the window ending at the last refit boundary (memoized on that block)
        anchors = [b for b in past if b.number % cfg.refit_blocks == 0] or [past[-1]]
        anchor = anchors[-1]
        features = block_flow_features(event, view, cfg.assets)
        out = []
        for token, x in now.items():
            if x <= 0 or x < minimums.get(token, 1):
                continue
            name = f"iforest:{token}:{cfg.window_blocks}:{cfg.n_estimators}:{cfg.seed}"
            forest, n, worst, most = view.history.derive(anchor, name, lambda b, t=token: self._fit(view, b, t))
            row = [[float(v) for v in features.get(token, (0, 0, 0, 0))]]
            score = float(-forest.score_samples(row)[0])
            if score < cfg.if_threshold or (score <= worst and x <= most):
                continue  # not anomalous enough, or nothing the history has not seen
            out.append(
                self.finding(
                    event,
                    f"net outflow of {view.protocol.label(token)} is an outlier (isolation score {score:.2f})",
                    subject=token,
                    discriminator="iforest",
                    details={
                        "token": token,
                        "net_outflow": x,
                        "score": round(score, 3),
                        "model": "isolation_forest",
                        "history_blocks": n,
                        "fitted_at": anchor.number,
                        "history_max_score": round(worst, 3),
                        "history_max_outflow": most,
                    },
                )
            )
        return out
