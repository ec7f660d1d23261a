"""Bastion: defence in depth for EVM DeFi protocols."""

__version__ = "0.1.0"
