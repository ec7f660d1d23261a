"""Risk engine: volatility estimators, a margin model and a bounded parameter policy (pure computation)."""
