"""Benchmarks of the watchtower: throughput (in memory) and detect-to-broadcast latency (on anvil)."""
