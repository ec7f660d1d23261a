"""Detectors: small pure classes in a registry (``REGISTRY``). Importing this package registers the
generic ones (large_transfer, outflow_rate, account_extraction, deposit_roundtrip, attacker_prep, governance,
ownership, proxy_upgrade, contract_paused, emergency_param, oracle_deviation and oracle_drift on the config's
feeds, unit_price of share vaults, flow_anomaly and pending_sensitive_call on pending transactions) and those of
the reference clearinghouse, which read its markets from the deployment manifest (oracle_deviation, stale_feed,
price_manipulation, guard_event, solvency)."""

from bastion.watch.detectors import (  # noqa: F401
    anomaly,
    control,
    emergency,
    extraction,
    feeds,
    governance,
    guards,
    manipulation,
    oracle,
    outflow,
    pending,
    preparation,
    roundtrip,
    solvency,
    transfers,
    vaults,
)
from bastion.watch.detectors.base import REGISTRY, Detector, DetectorConfig, Registry, register

__all__ = ["REGISTRY", "Detector", "DetectorConfig", "Registry", "register"]
