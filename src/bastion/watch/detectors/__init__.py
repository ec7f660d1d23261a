"""Detectors: small pure classes in a registry (``REGISTRY``). Importing this package registers the
generic ones: large_transfer, outflow_rate, attacker_prep, governance, flow_anomaly."""

from bastion.watch.detectors import anomaly, governance, outflow, preparation, transfers  # noqa: F401  (registration)
from bastion.watch.detectors.base import REGISTRY, Detector, DetectorConfig, Registry, register

__all__ = ["REGISTRY", "Detector", "DetectorConfig", "Registry", "register"]
