// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {PlainVault} from "../../contracts/examples/PlainVault.sol";
import {GuardedVault} from "../../contracts/examples/GuardedVault.sol";
import {InvariantGuardedVault} from "../../contracts/examples/InvariantGuardedVault.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";

/// @notice Full-transaction gas of deposit/withdraw on PlainVault (baseline) vs GuardedVault
///         (limiter + scoped pause + transient reentrancy guard) vs InvariantGuardedVault (+ tx invariants).
/// @dev Run with `--isolate` so each call is its own transaction (21k base, cold storage): the figures land
///      in snapshots/VaultGas.json (read by bench/bench_gas.py). Steady state: the user and the vault hold
///      nonzero balances, the allowance is infinite, the previous operation was one block (12 s) or 30 days
///      before the measured one.
contract VaultGasTest is Test {
    MintableToken internal token;
    PlainVault internal plain;
    GuardedVault internal guarded;
    InvariantGuardedVault internal full;
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    uint256 internal constant AMOUNT = 1_000e18;

    function setUp() public {
        vm.warp(1_750_000_000);
        vm.roll(20_000_000);
        token = new MintableToken("USD Coin", "USDC", 18, address(this));
        OutflowLimiter.AssetConfig memory cfg = OutflowLimiter.AssetConfig({
            limitBps: 1_000,
            window: 6 hours,
            floor: 10_000e18,
            cooldown: 6 hours,
            mode: OutflowLimiter.Mode.DELAYED,
            creditShift: 0
        });
        plain = new PlainVault(IERC20(address(token)));
        guarded = new GuardedVault(IERC20(address(token)), makeAddr("gov"), makeAddr("guardian"), cfg);
        full = new InvariantGuardedVault(IERC20(address(token)), makeAddr("gov"), makeAddr("guardian"), cfg, 2_000);
        address[3] memory vaults = [address(plain), address(guarded), address(full)];
        address[2] memory users = [alice, bob];
        for (uint256 u; u < 2; ++u) {
            token.mint(users[u], 10_000_000e18);
            for (uint256 v; v < 3; ++v) {
                vm.startPrank(users[u]);
                token.approve(vaults[v], type(uint256).max);
                PlainVault(vaults[v]).deposit(1_000_000e18);
                vm.stopPrank();
            }
        }
        // The last operation on every vault happens at the same time.
        vm.warp(block.timestamp + 1 hours);
        vm.roll(block.number + 300);
        for (uint256 v; v < 3; ++v) {
            vm.prank(bob);
            PlainVault(vaults[v]).withdraw(AMOUNT);
        }
    }

    function _after(uint256 secs) internal {
        vm.warp(block.timestamp + secs);
        vm.roll(block.number + (secs + 11) / 12);
    }

    function _deposit(address vault, string memory name, uint256 secs) internal {
        _after(secs);
        vm.prank(alice);
        PlainVault(vault).deposit(AMOUNT);
        vm.snapshotGasLastCall("VaultGas", name);
    }

    function _withdraw(address vault, string memory name, uint256 secs) internal {
        _after(secs);
        vm.prank(alice);
        PlainVault(vault).withdraw(AMOUNT);
        vm.snapshotGasLastCall("VaultGas", name);
        assertEq(PlainVault(vault).balanceOf(alice), 1_000_000e18 - AMOUNT);
        assertEq(token.balanceOf(alice), 10_000_000e18 - 3_000_000e18 + AMOUNT); // paid now, not queued
    }

    /// @dev The previous operation was a deposit (pending inflow to settle), one block earlier.
    function _withdrawAfterDeposit(address vault, string memory name, uint256 secs) internal {
        vm.prank(bob);
        PlainVault(vault).deposit(AMOUNT);
        _withdraw(vault, name, secs);
    }

    function test_gas_plain_withdraw_afterDeposit_1block() public {
        _withdrawAfterDeposit(address(plain), "plain_withdraw_afterDeposit_1block", 12);
    }

    function test_gas_plain_withdraw_afterDeposit_30d() public {
        _withdrawAfterDeposit(address(plain), "plain_withdraw_afterDeposit_30d", 30 days);
    }

    function test_gas_guarded_withdraw_afterDeposit_1block() public {
        _withdrawAfterDeposit(address(guarded), "guarded_withdraw_afterDeposit_1block", 12);
    }

    function test_gas_guarded_withdraw_afterDeposit_30d() public {
        _withdrawAfterDeposit(address(guarded), "guarded_withdraw_afterDeposit_30d", 30 days);
    }

    function test_gas_plain_deposit_1block() public {
        _deposit(address(plain), "plain_deposit_1block", 12);
    }

    function test_gas_plain_deposit_30d() public {
        _deposit(address(plain), "plain_deposit_30d", 30 days);
    }

    function test_gas_plain_withdraw_1block() public {
        _withdraw(address(plain), "plain_withdraw_1block", 12);
    }

    function test_gas_plain_withdraw_30d() public {
        _withdraw(address(plain), "plain_withdraw_30d", 30 days);
    }

    function test_gas_guarded_deposit_1block() public {
        _deposit(address(guarded), "guarded_deposit_1block", 12);
    }

    function test_gas_guarded_deposit_30d() public {
        _deposit(address(guarded), "guarded_deposit_30d", 30 days);
    }

    function test_gas_guarded_withdraw_1block() public {
        _withdraw(address(guarded), "guarded_withdraw_1block", 12);
    }

    function test_gas_guarded_withdraw_30d() public {
        _withdraw(address(guarded), "guarded_withdraw_30d", 30 days);
    }

    function test_gas_invariant_deposit_1block() public {
        _deposit(address(full), "invariant_deposit_1block", 12);
    }

    function test_gas_invariant_deposit_30d() public {
        _deposit(address(full), "invariant_deposit_30d", 30 days);
    }

    function test_gas_invariant_withdraw_1block() public {
        _withdraw(address(full), "invariant_withdraw_1block", 12);
    }

    function test_gas_invariant_withdraw_30d() public {
        _withdraw(address(full), "invariant_withdraw_30d", 30 days);
    }
}
