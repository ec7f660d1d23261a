// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {TxInvariantGuard} from "../../contracts/guards/TxInvariantGuard.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {HookToken} from "../../contracts/rehearsal/world/HookToken.sol";
import {VulnerableCallbackVault} from "../../contracts/rehearsal/vulnerable/VulnerableCallbackVault.sol";
import {VulnerableSetterVault} from "../../contracts/rehearsal/vulnerable/VulnerableSetterVault.sol";
import {RoundingBugVault} from "../../contracts/rehearsal/vulnerable/RoundingBugVault.sol";
import {DonationVault} from "../../contracts/rehearsal/vulnerable/DonationVault.sol";
import {CallbackReentrancyAttack} from "../../contracts/rehearsal/attacks/CallbackReentrancyAttack.sol";
import {RoundingDrain} from "../../contracts/rehearsal/attacks/RoundingDrain.sol";
import {DonationAttack} from "../../contracts/rehearsal/attacks/DonationAttack.sol";

/// @notice Each vulnerable variant is exploitable with its guards off, and its guard switch really
///         changes the outcome (or, for the rounding bug, does not: that one is the monitor's job).
contract VariantsTest is Test {
    uint256 constant USD = 1e6;
    address gov = makeAddr("governance");
    address guardian = makeAddr("guardian");
    address attacker = makeAddr("attacker");

    function _limiter() internal pure returns (OutflowLimiter.AssetConfig memory) {
        return OutflowLimiter.AssetConfig(1_000, 6 hours, 10_000 * USD, 1 hours, OutflowLimiter.Mode.DELAYED, 1);
    }

    // ------------------------------------------------------------------ reentrancy through a hook
    function _callbackWorld(bool guarded)
        internal
        returns (HookToken t, VulnerableCallbackVault v, CallbackReentrancyAttack a)
    {
        t = new HookToken("Hooked USD", "hUSD", 6, address(this));
        v = new VulnerableCallbackVault(IERC20(address(t)), gov, guardian, guarded, _limiter(), 2_000);
        address user = makeAddr("user");
        t.mint(user, 500_000 * USD);
        vm.startPrank(user);
        t.approve(address(v), type(uint256).max);
        v.deposit(500_000 * USD);
        vm.stopPrank();
        if (guarded) v.releaseLockedFunds(address(t)); // settle the limiter's pending inflows
        vm.warp(block.timestamp + 6 hours);
        vm.prank(attacker);
        a = new CallbackReentrancyAttack(v);
        t.mint(address(a), 20_000 * USD);
    }

    function test_reentrancy_drains_unguarded() public {
        (HookToken t, VulnerableCallbackVault v, CallbackReentrancyAttack a) = _callbackWorld(false);
        vm.prank(attacker);
        a.attack(20_000 * USD, 6);
        assertEq(t.balanceOf(address(a)), 120_000 * USD); // paid six times for one deposit
        assertEq(t.balanceOf(address(v)), 400_000 * USD);
    }

    function test_reentrancy_reverted_by_the_invariant_guard() public {
        (HookToken t, VulnerableCallbackVault v, CallbackReentrancyAttack a) = _callbackWorld(true);
        vm.prank(attacker);
        vm.expectRevert(
            abi.encodeWithSelector(TxInvariantGuard.InvariantViolated.selector, bytes32("paid-within-balance"))
        );
        a.attack(20_000 * USD, 6);
        assertEq(t.balanceOf(address(v)), 500_000 * USD);
    }

    // ------------------------------------------------------------------ unprotected setter
    function test_anyone_takes_ownership_and_the_guarded_vault_queues_the_drain() public {
        MintableToken usd = new MintableToken("USD", "USD", 6, address(this));
        VulnerableSetterVault v =
            new VulnerableSetterVault(IERC20(address(usd)), address(this), gov, guardian, true, _limiter(), 2_000);
        usd.mint(address(this), 1_000_000 * USD);
        usd.approve(address(v), type(uint256).max);
        v.deposit(1_000_000 * USD);
        v.releaseLockedFunds(address(usd));
        vm.warp(block.timestamp + 6 hours);
        vm.startPrank(attacker);
        v.transferOwnership(attacker); // the bug
        assertTrue(v.rebalance(attacker, 90_000 * USD)); // within the limiter's headroom: paid
        assertFalse(v.rebalance(attacker, 90_000 * USD)); // beyond it: a claim, the asset trips
        vm.stopPrank();
        assertTrue(v.isRateLimitTriggered(address(usd)));
        assertEq(usd.balanceOf(attacker), 90_000 * USD);
    }

    // ------------------------------------------------------------------ rounding
    function test_rounding_bug_is_invisible_to_the_solvency_guard() public {
        MintableToken usd = new MintableToken("USD", "USD", 6, address(this));
        RoundingBugVault v =
            new RoundingBugVault(IERC20(address(usd)), 100 * USD, gov, guardian, true, _limiter(), 2_000);
        usd.mint(address(this), 500_000 * USD);
        usd.approve(address(v), type(uint256).max);
        v.deposit(500_000 * USD);
        v.releaseLockedFunds(address(usd));
        vm.warp(block.timestamp + 6 hours);
        vm.prank(attacker);
        RoundingDrain d = new RoundingDrain(v);
        usd.mint(address(d), 10_000 * USD);
        vm.startPrank(attacker);
        d.buy(10_000 * USD);
        uint256 navBefore = v.navPerUnit();
        d.drain(25); // 25 withdrawals of just under two units each burn one unit each
        vm.stopPrank();
        assertGt(usd.balanceOf(attacker), 25 * 199 * USD);
        assertLt(v.navPerUnit(), navBefore); // the honest holders' unit price fell: a monitor sees this
    }

    // ------------------------------------------------------------------ donation / share inflation
    function _donationWorld(bool guarded)
        internal
        returns (MintableToken usd, DonationVault v, DonationAttack a, address victim)
    {
        usd = new MintableToken("USD", "USD", 6, address(this));
        v = new DonationVault(IERC20(address(usd)), gov, guardian, guarded, _limiter(), 2_000);
        vm.prank(attacker);
        a = new DonationAttack(v);
        usd.mint(address(a), 100_000 * USD + 1);
        victim = makeAddr("victim");
        usd.mint(victim, 50_000 * USD);
        vm.prank(victim);
        usd.approve(address(v), type(uint256).max);
        vm.prank(attacker);
        a.strike(100_000 * USD);
    }

    function test_donation_steals_the_next_deposit_unguarded() public {
        (MintableToken usd, DonationVault v, DonationAttack a, address victim) = _donationWorld(false);
        vm.prank(victim);
        assertEq(v.deposit(50_000 * USD), 0); // zero shares for 50,000
        vm.prank(attacker);
        a.cashOut();
        assertEq(usd.balanceOf(attacker), 150_000 * USD + 1);
    }

    function test_donation_guarded_refuses_the_unfair_mint_and_keeps_the_donation_in() public {
        (, DonationVault v, DonationAttack a, address victim) = _donationWorld(true);
        vm.prank(victim);
        vm.expectRevert(abi.encodeWithSelector(TxInvariantGuard.InvariantViolated.selector, bytes32("fair-mint")));
        v.deposit(50_000 * USD);
        vm.prank(attacker);
        vm.expectRevert(); // the limiter tracks only real deposits: the donation cannot leave through it
        a.cashOut();
    }
}
