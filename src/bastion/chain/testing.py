"""Pytest fixtures for tests on a real local chain (a pytest plugin).

One anvil per test session; every test that asks for ``w3`` (or ``chain``) runs between an
``evm_snapshot`` and an ``evm_revert``, so tests see a fresh chain without paying for a restart.
Enable with ``pytest_plugins = ["bastion.chain.testing"]`` in a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from bastion.chain.contracts import Sender, connect
from bastion.chain.node import AnvilNode, DevAccount


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    """The session's anvil node (automine, 10 funded accounts)."""
    with AnvilNode() as node:
        yield node


@pytest.fixture
def chain(anvil: AnvilNode) -> Iterator[AnvilNode]:
    """The session's node, with every change made by the test reverted afterwards."""
    snapshot = anvil.snapshot()
    try:
        yield anvil
    finally:
        anvil.revert(snapshot)


@pytest.fixture
def w3(chain: AnvilNode) -> Web3:
    """A web3 client on the isolated chain."""
    return connect(chain.http_url)


@pytest.fixture
def accounts(anvil: AnvilNode) -> list[DevAccount]:
    """The funded dev accounts (address and key)."""
    return anvil.accounts


@pytest.fixture
def deployer(w3: Web3, accounts: list[DevAccount]) -> Sender:
    """A signer for dev account 0, the usual deployer and owner."""
    return Sender.from_key(w3, accounts[0].private_key)
