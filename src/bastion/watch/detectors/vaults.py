"""Share price of a vault: ``unit_price``.

The price of one share (``assets() * 1e18 / supply()``, the functions configurable) falls, rises by
more than ``max_rise_bps`` in one block, or starts far above its nominal price. Rounding in the
vault's favour never lowers it, so any drop means value is leaving the remaining holders (a rounding
drain, a donation attack's victim, a bad debt); a jump is a donation inflating it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bastion.watch.detectors.abi import sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

WAD = 10**18


class VaultRef(BaseModel):
    """One vault's share price: ``assets() * 1e18 / supply()``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    vault: str
    assets: str = "totalAssets()"
    supply: str = "totalSupply()"
    initial_price: int = Field(default=WAD, gt=0, description="nominal price of one supply unit, x 1e18")


@register
class UnitPrice(Detector):
    id = "unit_price"
    severity = Severity.HIGH
    confidence = "high"
    description = "A vault's share price fell, jumped, or started far above its nominal price"
    recommendation = "Pause the vault's deposits and withdrawals; find where the value went"

    class Config(DetectorConfig):
        vaults: dict[str, VaultRef] = Field(default_factory=dict)
        max_drop_bps: int = Field(default=1, ge=0, le=10_000)
        max_rise_bps: int = Field(default=2_000, gt=0, le=1_000_000)
        max_initial_ratio: int = Field(default=10, gt=1)

    def _prices(self, view: ChainView, block: Block) -> dict[str, int | None]:
        def compute(b: Block) -> dict[str, int | None]:
            out: dict[str, int | None] = {}
            for name, ref in self.config.vaults.items():
                vault = view.protocol.resolve(ref.vault)
                reads = [(vault, sel(ref.supply), b.number), (vault, sel(ref.assets), b.number)]
                supply, assets = view.call_many(reads)
                s, a = word(supply) or 0, word(assets) or 0
                out[name] = a * WAD // s if s else None
            return out

        return view.history.derive(block, "unit_price", compute)

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        cfg = self.config
        if not cfg.vaults:
            return []
        now = self._prices(view, event)
        prev_block = view.history.last
        before = self._prices(view, prev_block) if prev_block is not None else {}
        out = []
        for name, price in now.items():
            if price is None:
                continue
            ref = cfg.vaults[name]
            prev = before.get(name)
            what = None
            if prev is None:
                if price > ref.initial_price * cfg.max_initial_ratio:
                    what = "starts inflated"
            elif price * 10_000 < prev * (10_000 - cfg.max_drop_bps) or (cfg.max_drop_bps == 0 and price < prev):
                what = "fell"
            elif price * 10_000 > prev * (10_000 + cfg.max_rise_bps):
                what = "jumped"
            if what is None:
                continue
            out.append(
                self.finding(
                    event,
                    f"share price of {name} {what}",
                    subject=view.protocol.resolve(ref.vault),
                    discriminator=name,
                    details={"vault": name, "price": price, "previous": prev, "change": what},
                )
            )
        return out
