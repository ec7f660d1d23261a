"""Stochastic stress simulator: price paths, a vectorized clearinghouse model, metrics and calibration."""
