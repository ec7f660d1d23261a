"""Flows the ERC-20 Transfer logs do not show: native ETH (call frames, or balance deltas without
traces) and a token that moves balances without emitting Transfer (balances read directly)."""

from __future__ import annotations

import pytest

from bastion.store import Repository
from bastion.tower.config import validate_config
from bastion.tower.service import WatchService
from bastion.watch.view import NATIVE

ETH = 10**18


def _config(world, tmp_path, contracts, assets, traces, detectors):
    return validate_config(
        {
            "service": {"database": str(tmp_path / f"w{traces}.db"), "start_block": 0, "traces": traces},
            "networks": {"local": {"rpc_urls": [world.node.http_url]}},
            "protocol": {"name": "t", "contracts": contracts, "assets": assets},
            "detectors": detectors,
        },
        tmp_path,
    )


def _findings(svc):
    with svc.db.session() as s:
        return [f for f in Repository.findings(s) if not f.retracted]


@pytest.mark.parametrize("traces", [True, False], ids=["traces", "balance-deltas"])
def test_a_native_eth_drain_through_a_contract_is_seen(world, tmp_path, traces):
    d = world.deployer
    vault = d.deploy("TPEthVault")
    sweeper = world.attacker.deploy("TPSweeper")
    d.send({"to": vault.address, "value": 100 * ETH})
    svc = WatchService(
        _config(
            world,
            tmp_path,
            {"eth_vault": {"address": vault.address}},
            {"ETH": {"address": NATIVE, "decimals": 18}},
            traces,
            {"large_transfer": {"min_fraction_bps": 2_000}, "outflow_rate": {"window_blocks": 20}},
        ),
        configure_logging=False,
    )
    svc.run_once()
    assert _findings(svc) == []  # the deposit is an inflow
    receipt = world.attacker.transact(sweeper.functions.drain(vault.address, 40 * ETH))
    svc.run_once()
    found = {f.detector: f for f in _findings(svc)}
    assert set(found) == {"large_transfer", "outflow_rate"}
    big = found["large_transfer"]
    assert big.details["token"] == NATIVE and int(big.details["amount"]) == 40 * ETH  # JSON keeps big ints as text
    assert "40 ETH left eth_vault" in big.title
    if traces:  # the call frame names the transaction
        assert big.tx_hash == "0x" + bytes(receipt["transactionHash"]).hex()
    else:  # only the balance moved: a block-level finding
        assert big.tx_hash is None and "balance read" in big.title
    svc.close()


def test_a_token_without_transfer_events_is_read_directly(world, tmp_path):
    d = world.deployer
    silent = d.deploy("TPSilentToken")
    d.transact(silent.functions.mint(world.vault.address, 1_000_000))
    contracts = {"vault": {"address": world.vault.address}}
    for events, expected in ((True, set()), (False, {"large_transfer"})):
        sub = tmp_path / str(events)
        sub.mkdir()
        svc = WatchService(
            _config(
                world,
                sub,
                contracts,
                {"SIL": {"address": silent.address, "decimals": 0, "transfer_events": events}},
                True,
                {"large_transfer": {"min_fraction_bps": 2_000}},
            ),
            configure_logging=False,
        )
        svc.run_once()
        if events:
            world.attacker.transact(silent.functions.move(world.vault.address, world.attacker.address, 300_000))
        svc.run_once()
        found = _findings(svc)
        assert {f.detector for f in found} == expected, [f.title for f in found]
        if found:
            (f,) = found
            assert f.details["amount"] == 300_000 and f.details["balance_before"] == 1_000_000
            assert f.title.startswith("300,000 SIL left vault")
        svc.close()
