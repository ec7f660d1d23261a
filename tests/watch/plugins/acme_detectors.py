"""A third party's detector, loaded by the watchtower from ``[plugins] modules`` (tests/watch/test_plugins.py).

Written as a user would, against the public detector API only: any ``Withdrawn`` log of a protected
contract with an amount at or above ``min_amount``.
"""

from __future__ import annotations

from pydantic import Field

from bastion.watch.detectors import Detector, DetectorConfig
from bastion.watch.findings import Severity


class AcmeBigWithdrawal(Detector):
    id = "acme_big_withdrawal"
    severity = Severity.HIGH
    confidence = "high"
    description = "A protected contract's Withdrawn event at or above min_amount"
    recommendation = "Call the Acme on-call"

    class Config(DetectorConfig):
        min_amount: int = Field(gt=0)

    def run(self, event, view):
        return [
            self.finding(event, f"Withdrawn {lg.args['amount']}", tx_hash=lg.tx_hash, subject=lg.address)
            for lg in event.logs()
            if lg.name == "Withdrawn"
            and lg.address in view.protocol.protected
            and lg.args["amount"] >= self.config.min_amount
        ]
