"""Sharding and backends: the same seed gives the same results on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from bastion.sim.backends import LocalBackend, plan_shards, run_sharded
from bastion.sim.bench import bench_shard, workload_book
from bastion.sim.model import SimResult


def test_shards_cover_the_paths_with_independent_seeds():
    shards = plan_shards(1_050, seed=4, shard_paths=500)
    assert [s.n_paths for s in shards] == [500, 500, 50]
    assert [s.start for s in shards] == [0, 500, 1_000]
    draws = [s.rng().random() for s in shards]
    assert len(set(draws)) == 3
    assert [s.rng().random() for s in plan_shards(1_050, seed=4, shard_paths=500)] == draws
    with pytest.raises(ValueError):
        plan_shards(0, 1)


def test_local_backend_is_reproducible():
    book = workload_book()
    a = SimResult.concat(run_sharded(bench_shard, 300, 9, LocalBackend(), shard_paths=100, book=book))
    b = SimResult.concat(run_sharded(bench_shard, 300, 9, LocalBackend(), shard_paths=100, book=book))
    c = SimResult.concat(run_sharded(bench_shard, 300, 10, LocalBackend(), shard_paths=100, book=book))
    assert a.n_paths == 300
    assert np.array_equal(a.bad_debt, b.bad_debt) and np.array_equal(a.liquidations, b.liquidations)
    assert not np.array_equal(a.liquidated_notional, c.liquidated_notional)


def test_ray_backend_equals_local_backend():
    pytest.importorskip("ray")
    from bastion.sim.backends import RayBackend

    book = workload_book()
    local = SimResult.concat(run_sharded(bench_shard, 400, 21, LocalBackend(), shard_paths=100, book=book))
    backend = RayBackend(num_cpus=2)
    try:
        seen: list[int] = []
        remote = SimResult.concat(
            run_sharded(bench_shard, 400, 21, backend, shard_paths=100, progress=seen.append, book=book)
        )
    finally:
        backend.close()
    assert sum(seen) == 400
    for name in ("bad_debt", "socialized_loss", "liquidated_notional", "liquidations", "accounts_liquidated"):
        assert np.array_equal(getattr(local, name), getattr(remote, name)), name


def test_bench_prints_a_table_and_a_final_json_line():
    pytest.importorskip("radcad")
    import json

    from bastion.sim.bench import run_bench

    lines: list[str] = []
    out = run_bench(paths=300, radcad_paths=3, repeats=1, radcad_default_paths=2, print_fn=lines.append)
    last = json.loads(lines[-1])
    assert last == out
    assert {"paths_per_s", "radcad_paths_per_s", "speedup"} <= set(last)
    assert last["results_agree"] is True
    assert any("radCAD" in line for line in lines[:-1])
