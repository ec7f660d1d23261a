"""The stepping hook of the in-process runner (what the rehearsal drives): no thread, one pass per
``step()`` in the caller's thread, the same service and records as a threaded watchtower."""

from __future__ import annotations

import pytest
from tests.watch.conftest import USD

from bastion.tower.runner import start_watchtower


def test_a_stepped_watchtower_looks_only_when_stepped(world, tmp_path):
    manifest = {"name": "demo", "chain_id": 31337, "contracts": world.contracts, "assets": world.assets}
    config = {"detectors": {"large_transfer": {"min_fraction_bps": 2_000, "min_amount": {"USD": 50_000 * USD}}}}
    tower = start_watchtower(
        manifest,
        config,
        world.node.http_url,
        keys=None,
        workdir=tmp_path,
        service={"start_block": 0, "pending": False},
        network={"timeout": 30.0},
        stepped=True,
    )
    try:
        assert not tower.running and tower.service.cfg.network.timeout == 30.0
        assert tower.step() > 0 and tower.findings() == []
        world.drain(300_000 * USD)
        assert tower.findings() == []  # nothing runs between steps
        assert tower.step() == 1
        (f,) = tower.findings()
        assert (f.detector, f.actor, f.block_number) == (
            "large_transfer",
            world.attacker.address.lower(),
            world.w3.eth.block_number,
        )
        assert tower.step() == 0  # no new block: nothing again
    finally:
        tower.stop()
    assert tower.findings()  # records stay readable after stop


def test_a_threaded_watchtower_cannot_be_stepped(world, tmp_path):
    manifest = {"name": "demo", "chain_id": 31337, "contracts": world.contracts, "assets": world.assets}
    tower = start_watchtower(manifest, {}, world.node.http_url, keys=None, service={"pending": False})
    try:
        with pytest.raises(RuntimeError, match="cannot be stepped"):
            tower.step()
    finally:
        tower.close()
