// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProtocolBase} from "../protocol/ProtocolBase.sol";

/// @notice Full-transaction gas of the reference clearinghouse's user operations, every guard on.
/// @dev Run with `--isolate` (each call its own transaction, cold storage, 21k base included); figures land
///      in snapshots/ProtocolGas.json, read by bench/bench_gas.py. Steady state: the account already holds
///      collateral and, for close/liquidate, a position; the previous operation was one hour earlier.
contract ProtocolGasTest is ProtocolBase {
    address internal alice = makeAddr("alice");

    function setUp() public override {
        super.setUp();
        _fund(alice, 100_000 * USD);
        usdc.mint(alice, 1_000_000 * USD);
        _trade(alice, BTC, 1e17); // a position in the other market, so margin checks walk both
        skip(1 hours);
        _setPrice(ETH, 3_000e8);
        _setPrice(BTC, 60_000e8);
    }

    function test_gas_deposit() public {
        vm.prank(alice);
        router.deposit(1_000 * USD);
        vm.snapshotGasLastCall("ProtocolGas", "deposit");
    }

    function test_gas_withdraw() public {
        vm.prank(alice);
        router.withdraw(1_000 * USD);
        vm.snapshotGasLastCall("ProtocolGas", "withdraw");
    }

    function test_gas_open() public {
        vm.prank(alice);
        router.trade(ETH, 10e18, 0);
        vm.snapshotGasLastCall("ProtocolGas", "open");
        assertEq(engine.positionOf(alice, ETH).size, 10e18);
    }

    function test_gas_close() public {
        _trade(alice, ETH, 10e18);
        skip(1 hours);
        _setPrice(ETH, 3_000e8);
        _setPrice(BTC, 60_000e8);
        vm.prank(alice);
        router.close(ETH);
        vm.snapshotGasLastCall("ProtocolGas", "close");
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }

    function test_gas_liquidate() public {
        _trade(alice, ETH, 300e18); // 900k notional on ~100k
        skip(1 hours);
        _setPrice(ETH, 2_700e8);
        _setPrice(BTC, 60_000e8);
        vm.prank(keeper);
        router.liquidate(alice);
        vm.snapshotGasLastCall("ProtocolGas", "liquidate");
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }
}
