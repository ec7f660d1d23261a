// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {ParameterRegistry} from "../../contracts/governance/ParameterRegistry.sol";
import {ClearingEngine} from "../../contracts/protocol/ClearingEngine.sol";
import {Vault} from "../../contracts/protocol/Vault.sol";
import {ProtocolBase} from "./ProtocolBase.sol";

/// @notice Funds leave only after the decision: claims wait while withdrawals are paused for an incident,
///         governance voids claims locked in an incident window, and realised profit vests.
contract ContainmentTest is ProtocolBase {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    bytes32 internal constant REPORT = keccak256("incident report #1");
    uint32 internal constant WD = uint32(1) << PauseOps.WITHDRAW;

    /// @dev Trip the limiter: alice's large withdrawal becomes a claim, bob's small one queues behind.
    function _tripWithClaims() internal {
        _fund(alice, 1_000_000 * USD);
        _fund(bob, 10_000 * USD);
        vm.prank(alice);
        assertFalse(router.withdraw(900_000 * USD));
        vm.prank(bob);
        assertFalse(router.withdraw(5_000 * USD));
    }

    function _drainQueue() internal {
        for (uint256 i; i < 8; ++i) {
            skip(6 hours);
            vault.releaseLockedFunds(address(usdc));
        }
    }

    // --------------------------------------------------------------------------- claims wait for the decision

    function test_claimsHeldDuringPause_paidAfter() public {
        _tripWithClaims();
        skip(1 hours);
        vm.prank(guardian);
        router.pause(PauseOps.ALL_MARKETS, WD, 24 hours);
        for (uint256 i; i < 3; ++i) {
            skip(6 hours);
            vault.releaseLockedFunds(address(usdc)); // release still progresses
        }
        vm.expectRevert(abi.encodeWithSelector(Vault.ClaimsHeld.selector, address(usdc)));
        vault.claimLockedFunds(address(usdc), bob);
        skip(6 hours); // pause over
        _drainQueue();
        vault.claimLockedFunds(address(usdc), bob);
        assertEq(usdc.balanceOf(bob), 5_000 * USD);
        _assertSolvent();
    }

    /// @dev A pause of another op or of one market does not hold claims.
    function test_otherPausesDoNotHoldClaims() public {
        _tripWithClaims();
        vm.prank(guardian);
        router.pause(PauseOps.ALL_MARKETS, uint32(1) << PauseOps.OPEN, 24 hours);
        router.pause(1, WD, 24 hours); // governance: a one-market withdrawal pause
        _drainQueue();
        vault.claimLockedFunds(address(usdc), bob);
        assertEq(usdc.balanceOf(bob), 5_000 * USD);
    }

    // --------------------------------------------------------------------------- voiding

    function test_governanceVoidsClaimsLockedInTheIncidentWindow_restArePaid() public {
        _fund(carol, 10_000 * USD);
        _tripWithClaims(); // alice and bob lock now
        uint256 start = block.timestamp;
        uint256 liquidityBefore = vault.trackedLiquidity(address(usdc)); // nothing released yet
        skip(2 hours);
        vm.prank(carol);
        assertFalse(router.withdraw(1_000 * USD)); // carol locks after the window
        uint256 insuranceBefore = engine.insuranceFund();
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (alice, carol, makeAddr("nobody"));
        vm.expectEmit(address(vault));
        emit OutflowLimiter.LockedFundsVoided(address(usdc), alice, 900_000 * USD, start, REPORT);
        vault.voidClaims(who, start, start + 1 hours, REPORT); // carol (outside) and nobody are skipped
        assertEq(vault.lockedFunds(alice, address(usdc)), 0);
        assertEq(vault.lockedFunds(carol, address(usdc)), 1_000 * USD);
        assertEq(engine.insuranceFund(), insuranceBefore + 900_000 * USD);
        assertEq(vault.outstandingClaims(), 6_000 * USD);
        _assertSolvent();
        _drainQueue();
        vault.claimLockedFunds(address(usdc), bob);
        vault.claimLockedFunds(address(usdc), carol);
        assertEq(usdc.balanceOf(bob), 5_000 * USD);
        assertEq(usdc.balanceOf(carol), 1_000 * USD);
        assertEq(usdc.balanceOf(alice), 0);
        // The voided amount went through the queue as a release, then rejoins the liquidity.
        vault.returnVoidedFunds(address(usdc), alice);
        assertEq(vault.trackedLiquidity(address(usdc)), liquidityBefore - 6_000 * USD);
        _assertSolvent();
    }

    function test_voidedFundsReturnOnlyAfterRelease() public {
        _tripWithClaims();
        uint256 start = block.timestamp;
        address[] memory who = new address[](1);
        who[0] = alice;
        vault.voidClaims(who, start, start, REPORT);
        vm.expectRevert(
            abi.encodeWithSelector(OutflowLimiter.VoidedNotReleased.selector, address(usdc), alice, 900_000 * USD, 0)
        );
        vault.returnVoidedFunds(address(usdc), alice);
    }

    function test_voidingIsBoundedInTime_andGovernanceOnly() public {
        _tripWithClaims();
        uint256 start = block.timestamp;
        address[] memory who = new address[](1);
        who[0] = alice;
        vm.prank(guardian);
        vm.expectRevert();
        vault.voidClaims(who, start, start, REPORT);
        bytes memory bad;
        bad = abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, start, bytes32(0));
        vm.expectRevert(bad);
        vault.voidClaims(who, start, start, bytes32(0)); // no report
        uint256 tooLong = start + 3 days + 1;
        skip(4 days);
        vm.expectRevert(abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, tooLong, REPORT));
        vault.voidClaims(who, start, tooLong, REPORT);
        vm.expectRevert(
            abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, block.timestamp + 1, REPORT)
        );
        vault.voidClaims(who, start, block.timestamp + 1, REPORT); // window not over
        skip(30 days);
        vm.expectRevert(abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, start, REPORT));
        vault.voidClaims(who, start, start, REPORT); // too late: the claims are the owners' now
    }

    // --------------------------------------------------------------------------- profit vesting

    function test_realisedProfitVests_principalStaysWithdrawable() public {
        _fund(alice, 10_000 * USD);
        _trade(alice, ETH, 10e18);
        _setPrice(ETH, 3_300e8);
        vm.prank(alice);
        router.close(ETH);
        (uint128 locked, uint40 until,,) = engine.vestingOf(alice);
        assertGt(locked, 2_900 * USD);
        assertEq(until, block.timestamp + 1 hours);
        int256 free = engine.collateralOf(alice) - int256(uint256(locked));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.ProfitLocked.selector, alice, locked, until));
        router.withdraw(uint256(free) + 1);
        vm.prank(alice);
        assertTrue(router.withdraw(uint256(free))); // principal minus fees: never locked
        skip(1 hours);
        vm.prank(alice);
        assertTrue(router.withdraw(locked));
        _assertSolvent();
    }

    function test_liquidationRewardVests() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18);
        _setPrice(ETH, 2_750e8);
        vm.prank(keeper);
        router.liquidate(alice);
        (uint128 locked,,,) = engine.vestingOf(keeper);
        assertEq(locked, 1_375 * USD);
        vm.prank(keeper);
        vm.expectRevert();
        router.withdraw(1);
        skip(1 hours);
        vm.prank(keeper);
        assertTrue(router.withdraw(1_375 * USD));
    }

    function test_newProfitRelocksTheWholeAmount() public {
        _fund(alice, 10_000 * USD);
        _trade(alice, ETH, 10e18);
        _setPrice(ETH, 3_100e8);
        _trade(alice, ETH, -5e18);
        (uint128 first,,,) = engine.vestingOf(alice);
        skip(50 minutes);
        _trade(alice, ETH, -5e18);
        (uint128 total, uint40 until,,) = engine.vestingOf(alice);
        assertGt(total, first);
        assertEq(until, block.timestamp + 1 hours);
    }

    function test_vestingDelayBoundedAndGovernanceOnly() public {
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.InvalidVestingDelay.selector, 1 days + 1));
        engine.setProfitVestingDelay(1 days + 1);
        vm.prank(guardian);
        vm.expectRevert();
        engine.setProfitVestingDelay(0);
        engine.setProfitVestingDelay(0);
        _fund(alice, 10_000 * USD);
        _trade(alice, ETH, 10e18);
        _setPrice(ETH, 3_300e8);
        vm.prank(alice);
        router.close(ETH);
        vm.prank(alice);
        assertTrue(router.withdraw(12_000 * USD));
    }

    function test_onlyTheVaultBooksVoidedClaims() public {
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.NotVault.selector, address(this)));
        engine.absorbVoidedClaims(1, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.NotVault.selector, address(this)));
        engine.voidProfitOf(alice, 0, block.timestamp, 1);
    }

    // --------------------------------------------------------------------------- voiding incident profit

    function _all(uint256 n) internal pure returns (uint256[] memory caps) {
        caps = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            caps[i] = type(uint256).max;
        }
    }

    /// @dev A cap voids only what a flagged price paid; the rest of the record is the owner's, unlocked.
    function test_voidProfit_capTakesOnlyTheCap_andEndsTheRecord() public {
        uint256 start = block.timestamp;
        uint256 locked = _aliceProfits();
        address[] memory who = new address[](1);
        who[0] = alice;
        uint256[] memory caps = new uint256[](1);
        caps[0] = 1_000 * USD;
        skip(1);
        int256 collateralBefore = engine.collateralOf(alice);
        vault.voidProfit(who, caps, start, start, REPORT);
        assertEq(engine.collateralOf(alice), collateralBefore - 1_000 * 1e6);
        (uint128 left,,,) = engine.vestingOf(alice);
        assertEq(left, 0);
        assertGt(locked, 1_000 * USD);
        vm.expectRevert(abi.encodeWithSelector(Vault.LengthMismatch.selector, 1, 0));
        vault.voidProfit(who, new uint256[](0), start, start, REPORT);
        _assertSolvent();
    }

    /// @dev alice opens 10 ETH and closes it 10% higher: about 3k of realised profit, locked.
    function _aliceProfits() internal returns (uint256 locked) {
        _fund(alice, 10_000 * USD);
        _trade(alice, ETH, 10e18);
        _setPrice(ETH, 3_300e8);
        vm.prank(alice);
        router.close(ETH);
        (locked,,,) = engine.vestingOf(alice);
    }

    function test_voidProfit_reachesProfitHeldByAnIncidentPause() public {
        uint256 start = block.timestamp;
        uint256 locked = _aliceProfits();
        assertGt(locked, 2_900 * USD);
        vm.prank(guardian);
        router.pause(PauseOps.ALL_MARKETS, WD, 24 hours);
        skip(2 hours); // past the vesting delay: the pause keeps the record
        _trade(alice, ETH, 1e18);
        _setPrice(ETH, 3_310e8);
        vm.prank(alice);
        router.close(ETH); // a little more profit during the pause joins the same record
        (uint128 total,, uint40 first, uint40 last) = engine.vestingOf(alice);
        assertGt(total, locked);
        assertEq(first, start);
        assertEq(last, block.timestamp);
        int256 collateralBefore = engine.collateralOf(alice);
        uint256 insuranceBefore = engine.insuranceFund();
        address[] memory who = new address[](2);
        (who[0], who[1]) = (alice, bob); // bob has no record: skipped
        vm.expectEmit(address(vault));
        emit Vault.ProfitVoided(alice, total, start, start + 1 hours, REPORT);
        vault.voidProfit(who, _all(who.length), start, start + 1 hours, REPORT); // governance (this test), i.e. the timelock
        assertEq(engine.collateralOf(alice), collateralBefore - int256(uint256(total)));
        assertEq(engine.insuranceFund(), insuranceBefore + total);
        (uint128 after_,,,) = engine.vestingOf(alice);
        assertEq(after_, 0);
        _assertSolvent();
        skip(22 hours); // the pause is over: alice leaves with her principal minus fees, not the profit
        uint256 left = uint256(engine.collateralOf(alice));
        vm.prank(alice);
        assertTrue(router.withdraw(left));
        assertLt(usdc.balanceOf(alice), 10_000 * USD);
        _assertSolvent();
    }

    /// @dev Without a pause a vested record restarts at the next profit, so a window that names only the
    ///      earlier profit voids nothing (it may have left already: it is the owner's).
    function test_voidProfit_skipsRecordsOutsideTheWindow() public {
        uint256 start = block.timestamp;
        _aliceProfits();
        skip(2 hours);
        _trade(alice, ETH, 1e18);
        _setPrice(ETH, 3_310e8);
        vm.prank(alice);
        router.close(ETH);
        (uint128 total,, uint40 first,) = engine.vestingOf(alice);
        assertEq(first, block.timestamp);
        address[] memory who = new address[](1);
        who[0] = alice;
        int256 collateralBefore = engine.collateralOf(alice);
        vault.voidProfit(who, _all(who.length), start, start + 1 hours, REPORT);
        assertEq(engine.collateralOf(alice), collateralBefore);
        (uint128 kept,,,) = engine.vestingOf(alice);
        assertEq(kept, total);
    }

    function test_voidProfit_boundedInTime_andGovernanceOnly() public {
        uint256 start = block.timestamp;
        _aliceProfits();
        address[] memory who = new address[](1);
        who[0] = alice;
        vm.prank(guardian);
        vm.expectRevert();
        vault.voidProfit(who, _all(who.length), start, start, REPORT);
        vm.expectRevert(abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, start, bytes32(0)));
        vault.voidProfit(who, _all(who.length), start, start, bytes32(0)); // no report
        vm.expectRevert(
            abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, block.timestamp + 1, REPORT)
        );
        vault.voidProfit(who, _all(who.length), start, block.timestamp + 1, REPORT); // window not over
        skip(4 days);
        uint256 tooLong = start + 3 days + 1;
        vm.expectRevert(abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, tooLong, REPORT));
        vault.voidProfit(who, _all(who.length), start, tooLong, REPORT);
        skip(30 days);
        vm.expectRevert(abi.encodeWithSelector(Vault.InvalidIncidentWindow.selector, start, start, REPORT));
        vault.voidProfit(who, _all(who.length), start, start, REPORT); // too late: the profit is the owner's now
    }

    // --------------------------------------------------------------------------- tightening that cannot liquidate

    function _mmKey() internal pure returns (bytes32) {
        return keccak256(abi.encode(ETH, keccak256("maintenanceMarginBps")));
    }

    /// @dev alice: 100 ETH on ~31k; at 2,900 she is safe at 5% maintenance, unsafe at 7.5%.
    function _leveredAlice() internal {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18);
        _setPrice(ETH, 2_900e8);
    }

    /// @dev A guardian's emergency tightening applies to new risk only: it never makes alice liquidatable,
    ///      however long it lasts, nor raises her penalty; her position falls to a keeper only at the base.
    function test_guardianTightening_neverLiquidatesExistingPositions() public {
        _leveredAlice();
        vm.prank(guardian);
        registry.emergencyTighten(_mmKey(), 750, 1 days, REPORT);
        assertEq(registry.get(_mmKey()), 750);
        assertEq(registry.getWithGrace(_mmKey()), 500);
        vm.prank(keeper);
        vm.expectRevert(); // NotLiquidatable at the base
        router.liquidate(alice);
        skip(23 hours);
        _setPrice(ETH, 2_900e8); // fresh feeds
        assertEq(registry.getWithGrace(_mmKey()), 500);
        vm.prank(keeper);
        vm.expectRevert();
        router.liquidate(alice);
        // governance's own change (through the timelock) applies to liquidations at once
        registry.setBase(_mmKey(), 750, REPORT);
        vm.prank(keeper);
        router.liquidate(alice);
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }

    /// @dev The penalty too: a guardian's override never raises the penalty of a liquidation.
    function test_guardianPenaltyTightening_doesNotRaiseThePenalty() public {
        bytes32 penaltyKey = keccak256(abi.encode(ETH, keccak256("liquidationPenaltyBps")));
        uint256 base = registry.get(penaltyKey);
        vm.prank(guardian);
        registry.emergencyTighten(penaltyKey, base + registry.rulesOf(penaltyKey).maxStep, 1 days, REPORT);
        assertGt(registry.get(penaltyKey), base);
        assertEq(registry.getWithGrace(penaltyKey), base);
    }

    function test_riskTightening_toppingUpInTheGraceSavesThePosition() public {
        _leveredAlice();
        vm.prank(risk);
        registry.tighten(_mmKey(), 750, REPORT);
        _fund(alice, 5_000 * USD); // top up within the grace
        skip(12 hours);
        _setPrice(ETH, 2_900e8);
        vm.prank(keeper);
        vm.expectRevert();
        router.liquidate(alice);
    }

    function test_governanceTightening_appliesAtOnce() public {
        _leveredAlice();
        registry.setBase(_mmKey(), 750, REPORT); // governance (this test), i.e. through the timelock
        assertEq(registry.getWithGrace(_mmKey()), 750);
        vm.prank(keeper);
        router.liquidate(alice);
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }

    /// @dev Fast tightenings in a row never reach liquidations; RISK's base tightening waits out the grace.
    function test_liquidationsFollowTheBase_withTheGraceForRisk() public {
        vm.prank(guardian);
        registry.emergencyTighten(_mmKey(), 750, 1 days, REPORT);
        skip(1 hours);
        vm.prank(guardian);
        registry.emergencyTighten(_mmKey(), 1_000, 1 days, REPORT);
        assertEq(registry.getWithGrace(_mmKey()), 500);
        skip(12 hours);
        assertEq(registry.getWithGrace(_mmKey()), 500);
    }

    // --------------------------------------------------------------------------- grief resistance

    /// @dev A whale deposits, waits one window, withdraws it all: its own deposit comes back without
    ///      touching the shared headroom, nothing trips, and honest users withdraw at once afterwards.
    function test_depositThenWithdrawRoundTrip_doesNotEatOthersHeadroom() public {
        vault.setOwnInflowMemory(7 days);
        _fund(bob, 100_000 * USD);
        skip(7 days);
        uint256 headroomBefore = vault.headroom(address(usdc));
        address whale = makeAddr("whale");
        _fund(whale, 500_000 * USD); // above the shared headroom, under the Router's 20% per-transaction cap
        skip(6 hours);
        vm.prank(whale);
        assertTrue(router.withdraw(500_000 * USD));
        assertFalse(vault.isRateLimitTriggered(address(usdc)));
        assertGe(vault.headroom(address(usdc)), headroomBefore);
        vm.prank(bob);
        assertTrue(router.withdraw(100_000 * USD)); // paid now, no wait
        _assertSolvent();
    }

    /// @dev Only one's own deposits are netted: anything beyond them (profit, or others' funds an exploit
    ///      credited) still goes through the limiter and queues above the headroom.
    function test_onlyOwnDepositsAreNetted_theRestIsLimited() public {
        vault.setOwnInflowMemory(7 days);
        _fund(alice, 1_000_000 * USD);
        skip(7 days);
        _fund(alice, 10_000 * USD); // fresh: 10k of alice's 1.01M count as her own inflow
        vm.prank(alice);
        assertFalse(router.withdraw(900_000 * USD)); // 10k paid now, 890k queued
        assertEq(usdc.balanceOf(alice), 10_000 * USD);
        assertEq(vault.lockedFunds(alice, address(usdc)), 890_000 * USD);
        (uint128 own,) = vault.ownInflowOf(alice);
        assertEq(own, 0);
        _assertSolvent();
    }

    /// @dev Off (the default): the same round trip trips the limiter and queues the whale's claim.
    function test_withoutOwnInflowMemory_theRoundTripTrips() public {
        address whale = makeAddr("whale");
        _fund(whale, 500_000 * USD);
        skip(6 hours);
        vm.prank(whale);
        assertFalse(router.withdraw(500_000 * USD));
        assertTrue(vault.isRateLimitTriggered(address(usdc)));
    }

    function test_ownInflowMemoryBoundedAndGovernanceOnly() public {
        vm.expectRevert(
            abi.encodeWithSelector(OutflowLimiter.InvalidLimiterParam.selector, bytes32("ownInflowMemory"), 30 days + 1)
        );
        vault.setOwnInflowMemory(30 days + 1);
        vm.prank(guardian);
        vm.expectRevert();
        vault.setOwnInflowMemory(1 days);
    }
}
