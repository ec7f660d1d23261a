"""The deployment manifest and the protocol client, on a real chain with the whole system deployed."""

from __future__ import annotations

import json

import pytest
from web3.exceptions import ContractCustomError

from bastion.chain import AnvilNode, Sender, TransactionFailed, connect
from bastion.protocol.client import WAD, Protocol
from bastion.protocol.deploy import (
    Manifest,
    create_address,
    deploy_system,
    dev_keys,
    dev_roles,
    market_id,
    param_key,
)

USD = 10**6


@pytest.fixture(scope="module")
def deployed():
    with AnvilNode(accounts=16) as node:
        w3 = connect(node.http_url)
        sender = Sender.from_key(w3, node.accounts[0].private_key)
        manifest = deploy_system(sender, dev_roles(node.accounts), dev_keys(node.accounts))
        yield node, Protocol(w3, manifest)


@pytest.fixture
def system(deployed):
    node, protocol = deployed
    snapshot = node.snapshot()
    yield node, protocol
    node.revert(snapshot)


def _trader(node, protocol, index=10, usd=50_000):
    w3 = protocol.w3
    admin = Sender.from_key(w3, node.accounts[0].private_key)
    trader = Sender.from_key(w3, node.accounts[index].private_key)
    admin.transact(protocol.usdc.functions.mint(trader.address, usd * USD))
    protocol.approve(trader)
    return trader


def test_manifest_describes_the_deployment(system, tmp_path):
    _node, protocol = system
    m = protocol.manifest
    assert m.chain_id == 31337
    for name in ("usdc", "safe", "timelock", "registry", "oracle_guard", "vault", "engine", "router"):
        assert protocol.w3.eth.get_code(m.contracts[name]) != b"", name
    assert set(m.markets) == {"ETH-PERP", "BTC-PERP"}
    # Governance of every guard is the timelock (it accepted at its creation, nothing is left pending); the
    # deployer kept no power; the Safe is 2-of-3.
    assert m.roles["governance"] == m.contracts["timelock"]
    for contract in (protocol.vault, protocol.engine, protocol.router, protocol.oracle, protocol.registry):
        assert contract.functions.governance().call() == m.roles["governance"]
        assert int(contract.functions.pendingGovernance().call(), 16) == 0
        with pytest.raises(ContractCustomError):
            contract.functions.setGuardian(m.roles["deployer"]).call({"from": m.roles["deployer"]})
    assert protocol.safe.functions.getThreshold().call() == 2
    # The registry holds every market parameter under the documented key.
    key = param_key(market_id("ETH-PERP"), "maintenanceMarginBps")
    assert protocol.registry.functions.get(key).call() == m.parameters["ETH-PERP.maintenanceMarginBps"]
    path = tmp_path / "deployment.json"
    m.write(path)
    assert Manifest.load(path) == m
    assert json.loads(path.read_text())["contracts"]["router"] == m.contracts["router"]


def test_create_address_matches_the_chain(system):
    """The timelock's address is proposed before it exists: the prediction must match real CREATEs, at
    nonces on both sides of each RLP length boundary."""
    node, protocol = system
    w3 = protocol.w3
    # Well-known: anvil's first dev account at nonces 0 and 1.
    first = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert create_address(first, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert create_address(first, 1) == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
    sender = Sender.from_key(w3, node.accounts[12].private_key)
    for nonce in (0x7F, 0x80, 0xFF, 0x100, 0x123456):
        w3.provider.make_request("anvil_setNonce", [sender.address, hex(nonce)])
        token = sender.deploy("MintableToken", "T", "T", 6, sender.address)
        assert token.address == create_address(sender.address, nonce), hex(nonce)


def test_bad_manifest_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"unreadable.*bastion deploy") as info:
        Manifest.load(path)
    assert "\n" not in str(info.value)


def test_deposit_trade_close_withdraw_in_base_units(system):
    node, protocol = system
    trader = _trader(node, protocol)
    protocol.deposit(trader, 20_000 * USD)
    assert protocol.account(trader.address).collateral == 20_000 * USD
    protocol.trade(trader, "ETH-PERP", 10 * WAD)
    state = protocol.account(trader.address)
    assert state.positions == {"ETH-PERP": 10 * WAD, "BTC-PERP": 0}
    assert isinstance(state.equity, int) and state.maintenance == 1_500 * USD  # 5% of 30,000
    protocol.close(trader, "ETH-PERP")
    free = protocol.account(trader.address).collateral
    # two 10 bps fees on 30,000, and the funding a long pays for the second or two it was open (< 0.01 USDC)
    assert 20_000 * USD - 60 * USD - 10_000 <= free <= 20_000 * USD - 60 * USD
    protocol.withdraw(trader, free)
    assert protocol.usdc.functions.balanceOf(trader.address).call() == 30_000 * USD + free
    guards = protocol.guards()
    assert guards.vault_balance - guards.outstanding_claims >= guards.obligations


def test_liquidation_through_the_client(system):
    node, protocol = system
    trader = _trader(node, protocol)
    keeper = Sender.from_key(protocol.w3, node.accounts[12].private_key)
    keys = {a.address: a.private_key for a in node.accounts}
    protocol.deposit(trader, 31_000 * USD)
    protocol.trade(trader, "ETH-PERP", 100 * WAD)
    for which in ("primary", "secondary"):  # -8.3%: inside the band around the pool TWAP
        feeder = Sender.from_key(protocol.w3, keys[protocol.feed_signer(which)])
        feeder.transact(protocol.feed("ETH-PERP", which).functions.setAnswer(2_750 * 10**8))
    assert protocol.account(trader.address).liquidatable
    protocol.liquidate(keeper, trader.address)
    assert protocol.account(trader.address).positions["ETH-PERP"] == 0
    assert protocol.account(keeper.address).collateral == 1_375 * USD  # half of 1% of 275,000


def test_unknown_market_and_reverts_are_one_line(system):
    node, protocol = system
    trader = _trader(node, protocol)
    with pytest.raises(ValueError, match="unknown market 'DOGE-PERP'"):
        protocol.trade(trader, "DOGE-PERP", WAD)
    with pytest.raises(TransactionFailed, match="InsufficientCollateral"):
        protocol.withdraw(trader, 1)
