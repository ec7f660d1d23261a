"""Detectors: small pure classes in a registry (``REGISTRY``). Importing this package registers the
generic ones: large_transfer, outflow_rate, attacker_prep, governance, flow_anomaly and
pending_sensitive_call (on pending transactions)."""

from bastion.watch.detectors import anomaly, governance, outflow, pending, preparation, transfers  # noqa: F401
from bastion.watch.detectors.base import REGISTRY, Detector, DetectorConfig, Registry, register

__all__ = ["REGISTRY", "Detector", "DetectorConfig", "Registry", "register"]
