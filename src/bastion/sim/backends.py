"""Execution backends: run shard tasks locally (NumPy, in this process) or on a Ray cluster.

Paths are split into shards of a fixed size that depends only on the path count and ``shard_paths``,
never on the number of workers, and each shard's generator comes from ``SeedSequence(seed).spawn``.
Every backend therefore computes the same shards with the same seeds, and results (concatenated in
shard order) are identical whichever backend ran them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

R = TypeVar("R")
DEFAULT_SHARD_PATHS = 2_000


@dataclass(frozen=True)
class Shard:
    """A slice of the paths: ``index`` in shard order, ``start`` offset of its first path."""

    index: int
    start: int
    n_paths: int
    seed: np.random.SeedSequence

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)


def plan_shards(n_paths: int, seed: int, shard_paths: int = DEFAULT_SHARD_PATHS) -> list[Shard]:
    """Shards covering ``n_paths`` paths, each with its own child of ``SeedSequence(seed)``."""
    if n_paths <= 0 or shard_paths <= 0:
        raise ValueError("n_paths and shard_paths must be positive")
    n_shards = -(-n_paths // shard_paths)
    children = np.random.SeedSequence(seed).spawn(n_shards)
    shards = []
    for i, child in enumerate(children):
        start = i * shard_paths
        shards.append(Shard(index=i, start=start, n_paths=min(shard_paths, n_paths - start), seed=child))
    return shards


ProgressFn = Callable[[int], None]  # called with the number of paths just finished


class Backend(Protocol):
    name: str

    def map(
        self, fn: Callable[..., R], shards: Sequence[Shard], progress: ProgressFn | None = None, **kwargs: Any
    ) -> list[R]: ...

    def close(self) -> None: ...


class LocalBackend:
    """Runs shards one after another in this process."""

    name = "local"

    def map(
        self, fn: Callable[..., R], shards: Sequence[Shard], progress: ProgressFn | None = None, **kwargs: Any
    ) -> list[R]:
        out = []
        for shard in shards:
            out.append(fn(shard, **kwargs))
            if progress is not None:
                progress(shard.n_paths)
        return out

    def close(self) -> None:
        return None


class RayBackend:
    """Runs shards as Ray tasks: a local cluster (``num_cpus`` CPUs) unless ``address`` names one."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int = 2) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is an optional dependency
            raise RuntimeError("the ray backend needs the 'ray' package: pip install 'bastion[ray]'") from exc
        self._ray = ray
        self._owns = False
        if not ray.is_initialized():
            src_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            path = os.pathsep.join(p for p in (src_dir, os.environ.get("PYTHONPATH", "")) if p)
            runtime_env = {"env_vars": {"PYTHONPATH": path}}
            if address:
                ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR", log_to_driver=False)
            else:
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    logging_level="ERROR",
                    log_to_driver=False,
                )
            self._owns = True

    def map(
        self, fn: Callable[..., R], shards: Sequence[Shard], progress: ProgressFn | None = None, **kwargs: Any
    ) -> list[R]:
        ray = self._ray
        remote = ray.remote(fn)
        shared = {k: ray.put(v) for k, v in kwargs.items()}
        futures = [remote.remote(shard, **shared) for shard in shards]
        index = {f: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        pending = list(futures)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for f in done:
                i = index[f]
                results[i] = ray.get(f)
                if progress is not None:
                    progress(shards[i].n_paths)
        return results

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()
            self._owns = False


def make_backend(name: str, ray_address: str | None = None, num_cpus: int = 2) -> Backend:
    if name == "local":
        return LocalBackend()
    if name == "ray":
        return RayBackend(address=ray_address, num_cpus=num_cpus)
    raise ValueError(f"unknown backend {name!r}: use 'local' or 'ray'")


def run_sharded(
    fn: Callable[..., R],
    n_paths: int,
    seed: int,
    backend: Backend | None = None,
    *,
    shard_paths: int = DEFAULT_SHARD_PATHS,
    progress: ProgressFn | None = None,
    **kwargs: Any,
) -> list[R]:
    """Call ``fn(shard, **kwargs)`` for every shard of ``n_paths``; results in shard order."""
    shards = plan_shards(n_paths, seed, shard_paths)
    return (backend or LocalBackend()).map(fn, shards, progress, **kwargs)
