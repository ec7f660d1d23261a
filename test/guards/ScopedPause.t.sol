// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {PauseHarness} from "./harness/PauseHarness.sol";

contract ScopedPauseTest is Test {
    PauseHarness internal p;
    address internal gov = makeAddr("gov");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");
    uint256 internal constant M1 = 1;
    uint256 internal constant M2 = 2;
    uint256 internal constant ALL = PauseOps.ALL_MARKETS;
    uint32 internal constant DEP = uint32(1) << PauseOps.DEPOSIT;
    uint32 internal constant WD = uint32(1) << PauseOps.WITHDRAW;
    uint32 internal constant OPEN = uint32(1) << PauseOps.OPEN;

    function setUp() public {
        vm.warp(1_750_000_000);
        p = new PauseHarness(gov, guardian);
    }

    function _paused(uint8 op, uint256 market, uint256 until) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ScopedPause.OperationPaused.selector, op, market, until);
    }

    function _gPause(uint256 market, uint32 ops, uint256 d) internal {
        vm.prank(guardian);
        p.pause(market, ops, d);
    }

    // ------------------------------------------------------------------ hot path cost

    function test_check_oneSloadWhenNothingPaused() public {
        vm.record();
        p.check(PauseOps.WITHDRAW, M1);
        (bytes32[] memory reads,) = vm.accesses(address(p));
        assertEq(reads.length, 1);
    }

    function test_check_oneSloadForOtherOps_andAfterExpiry() public {
        _gPause(M1, DEP, 1 hours);
        vm.record();
        p.check(PauseOps.WITHDRAW, M1); // DEPOSIT is paused somewhere, WITHDRAW nowhere
        (bytes32[] memory reads,) = vm.accesses(address(p));
        assertEq(reads.length, 1);
        skip(1 hours);
        vm.record();
        p.check(PauseOps.DEPOSIT, M1); // every pause has ended
        (reads,) = vm.accesses(address(p));
        assertEq(reads.length, 1);
    }

    // ------------------------------------------------------------------ scoping

    function test_pause_scopedToOpAndMarket() public {
        uint256 until = block.timestamp + 2 hours;
        vm.expectEmit(address(p));
        emit ScopedPause.Paused(M1, DEP | OPEN, until, guardian);
        _gPause(M1, DEP | OPEN, 2 hours);
        vm.expectRevert(_paused(PauseOps.DEPOSIT, M1, until));
        p.act(PauseOps.DEPOSIT, M1);
        vm.expectRevert(_paused(PauseOps.OPEN, M1, until));
        p.act(PauseOps.OPEN, M1);
        p.act(PauseOps.WITHDRAW, M1); // other op
        p.act(PauseOps.DEPOSIT, M2); // other market
        assertTrue(p.isPaused(PauseOps.DEPOSIT, M1));
        assertFalse(p.isPaused(PauseOps.DEPOSIT, M2));
        skip(2 hours);
        p.act(PauseOps.DEPOSIT, M1); // each pause lapses
        assertFalse(p.isPaused(PauseOps.DEPOSIT, M1));
    }

    function test_allMarkets_coversEveryMarket() public {
        _gPause(ALL, WD, 1 hours);
        vm.expectRevert(_paused(PauseOps.WITHDRAW, ALL, block.timestamp + 1 hours));
        p.act(PauseOps.WITHDRAW, M2);
        vm.expectRevert(_paused(PauseOps.WITHDRAW, ALL, block.timestamp + 1 hours));
        p.act(PauseOps.WITHDRAW, ALL);
        p.act(PauseOps.DEPOSIT, M2);
    }

    function test_exits_neverPausableByGuardian() public {
        uint8[4] memory exits = [PauseOps.CLOSE, PauseOps.REPAY, PauseOps.ADD_COLLATERAL, PauseOps.LIQUIDATE];
        for (uint256 i; i < 4; ++i) {
            uint32 ops = DEP | (uint32(1) << exits[i]);
            vm.prank(guardian);
            vm.expectRevert(abi.encodeWithSelector(ScopedPause.ExitNotPausable.selector, uint32(1) << exits[i]));
            p.pause(M1, ops, 1 hours);
        }
        _gPause(M1, ~PauseOps.EXIT_OPS, 1 hours); // everything else at once
        for (uint256 i; i < 4; ++i) {
            p.act(exits[i], M1);
        }
        p.liquidate(M1, false);
    }

    function testFuzz_guardianPauseWithExitBitReverts(uint32 ops) public {
        vm.assume(ops & PauseOps.EXIT_OPS != 0);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.ExitNotPausable.selector, ops & PauseOps.EXIT_OPS));
        p.pause(M1, ops, 1 hours);
    }

    function test_governance_mayPauseExits() public {
        vm.prank(gov);
        p.pause(M1, uint32(1) << PauseOps.CLOSE, 3 days);
        vm.expectRevert(_paused(PauseOps.CLOSE, M1, block.timestamp + 3 days));
        p.act(PauseOps.CLOSE, M1);
    }

    function test_roles() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGuardian.selector, stranger));
        p.pause(M1, DEP, 1 hours);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGuardian.selector, stranger));
        p.unpause(M1, DEP);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        p.setPauseParams(1 hours, 1 hours, 0);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.InvalidOps.selector, uint32(0)));
        p.pause(M1, 0, 1 hours);
    }

    // ------------------------------------------------------------------ guardian bounds

    function test_guardian_durationBounded() public {
        uint256 maxUntil = block.timestamp + 24 hours;
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.PauseOutOfBounds.selector, M1, maxUntil + 1, maxUntil));
        p.pause(M1, DEP, 24 hours + 1);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.PauseOutOfBounds.selector, M1, block.timestamp, maxUntil));
        p.pause(M1, DEP, 0);
        _gPause(M1, DEP, 24 hours);
    }

    function test_guardian_cooldownAfterExpiry() public {
        _gPause(M1, DEP, 10 hours);
        skip(10 hours);
        uint256 next = block.timestamp + 48 hours;
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, next));
        p.pause(M1, WD, 1 hours); // any op: the scope is the market
        _gPause(M2, DEP, 1 hours); // another market is its own scope
        skip(48 hours - 1);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, next));
        p.pause(M1, DEP, 1 hours);
        skip(1);
        _gPause(M1, DEP, 1 hours);
    }

    function test_guardian_extendAndAddOpsWithinWindowOnly() public {
        uint256 start = block.timestamp;
        _gPause(M1, DEP, 4 hours);
        skip(3 hours);
        _gPause(M1, WD, 2 hours); // adds an op, moves the end to start + 5 h
        assertEq(p.scopeOf(M1).pausedUntil, start + 5 hours);
        vm.expectEmit(address(p));
        emit ScopedPause.PauseExtended(M1, start + 24 hours, guardian);
        vm.prank(guardian);
        p.extendPause(M1, start + 24 hours);
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.PauseOutOfBounds.selector, M1, start + 24 hours + 1, start + 24 hours)
        );
        p.extendPause(M1, start + 24 hours + 1);
        skip(20 hours);
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(
                ScopedPause.PauseOutOfBounds.selector, M1, block.timestamp + 2 hours, start + 24 hours
            )
        );
        p.pause(M1, OPEN, 2 hours);
        // The cooldown runs from the extended end.
        skip(1 hours);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, start + 24 hours + 48 hours));
        p.pause(M1, DEP, 1 hours);
    }

    function test_guardian_cannotTouchGovernancePause() public {
        vm.prank(gov);
        p.pause(M1, DEP, 5 days);
        bytes memory err = abi.encodeWithSelector(ScopedPause.GovernancePauseActive.selector, M1);
        vm.startPrank(guardian);
        vm.expectRevert(err);
        p.pause(M1, WD, 1 hours);
        vm.expectRevert(err);
        p.extendPause(M1, block.timestamp + 6 days);
        vm.expectRevert(err);
        p.unpause(M1, DEP);
        vm.stopPrank();
    }

    function test_guardian_unpauseOwn_cooldownFromNow() public {
        _gPause(M1, DEP | WD, 20 hours);
        skip(1 hours);
        vm.prank(guardian);
        p.unpause(M1, DEP);
        assertTrue(p.isPaused(PauseOps.WITHDRAW, M1));
        assertFalse(p.isPaused(PauseOps.DEPOSIT, M1));
        vm.expectEmit(address(p));
        emit ScopedPause.Unpaused(M1, WD, 0, guardian);
        vm.prank(guardian);
        p.unpause(M1, WD);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
        assertEq(p.scopeOf(M1).guardianNextPause, block.timestamp + 48 hours, "unpausing never shortens the wait");
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, block.timestamp + 48 hours));
        p.pause(M1, DEP, 1 hours);
    }

    function test_guardian_allMarketsAndMarketShareTheCycle() public {
        _gPause(M1, DEP, 24 hours);
        skip(24 hours);
        // Chaining an ALL_MARKETS pause after a market pause would double the time: refused.
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, ALL, block.timestamp + 48 hours));
        p.pause(ALL, DEP, 24 hours);
        skip(48 hours);
        _gPause(ALL, DEP, 24 hours);
        skip(24 hours);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M2, block.timestamp + 48 hours));
        p.pause(M2, DEP, 1 hours);
    }

    function test_guardian_powerNeverLapses_newKeyInheritsCooldown() public {
        skip(3650 days);
        _gPause(M1, DEP, 1 hours);
        address next = makeAddr("next");
        vm.prank(gov);
        p.setGuardian(next);
        skip(1 hours);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGuardian.selector, guardian));
        p.pause(M2, DEP, 1 hours);
        vm.prank(next);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, block.timestamp + 48 hours));
        p.pause(M1, DEP, 1 hours);
        vm.prank(next);
        p.pause(M2, DEP, 1 hours);
    }

    // ------------------------------------------------------------------ governance

    function test_governance_longerPause_unpauseEarly_takesOverGuardianPause() public {
        _gPause(M1, DEP, 1 hours);
        vm.prank(gov);
        p.extendPause(M1, block.timestamp + 10 days);
        assertEq(p.scopeOf(M1).guardianWindowEnds, 0, "now governance's");
        vm.prank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(
                ScopedPause.PauseOutOfBounds.selector, M1, block.timestamp + 30 days + 1, block.timestamp + 30 days
            )
        );
        p.pause(M1, DEP, 30 days + 1);
        skip(5 days);
        vm.prank(gov);
        p.unpause(M1, DEP);
        assertFalse(p.isPaused(PauseOps.DEPOSIT, M1));
        assertEq(p.scopeOf(M1).pausedUntil, block.timestamp);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.NotPaused.selector, M1));
        p.unpause(M1, DEP);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.NotPaused.selector, M1));
        p.extendPause(M1, block.timestamp + 1 days);
    }

    function test_setPauseParams_bounds() public {
        vm.startPrank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.InvalidPauseParam.selector, bytes32("guardianMaxPause"), 59 minutes)
        );
        p.setPauseParams(59 minutes, 48 hours, 4 hours);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.InvalidPauseParam.selector, bytes32("guardianMaxPause"), 73 hours)
        );
        p.setPauseParams(73 hours, 48 hours, 4 hours);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.InvalidPauseParam.selector, bytes32("guardianCooldown"), 59 minutes)
        );
        p.setPauseParams(24 hours, 59 minutes, 4 hours);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.InvalidPauseParam.selector, bytes32("guardianCooldown"), 31 days)
        );
        p.setPauseParams(24 hours, 31 days, 4 hours);
        vm.expectRevert(
            abi.encodeWithSelector(ScopedPause.InvalidPauseParam.selector, bytes32("liquidationGrace"), 4 hours + 1)
        );
        p.setPauseParams(24 hours, 48 hours, 4 hours + 1);
        vm.expectEmit(address(p));
        emit ScopedPause.PauseParamsUpdated(2 hours, 3 hours, 0);
        p.setPauseParams(2 hours, 3 hours, 0);
        vm.stopPrank();
        (uint256 a, uint256 b, uint256 c) = p.pauseParams();
        assertEq(a, 2 hours);
        assertEq(b, 3 hours);
        assertEq(c, 0);
        vm.prank(guardian);
        vm.expectRevert();
        p.pause(M1, DEP, 2 hours + 1);
    }

    // ------------------------------------------------------------------ liquidation grace

    function test_liquidationGrace() public {
        assertEq(p.liquidationGraceEnds(M1), 0, "never paused: no grace");
        p.liquidate(M1, true);
        _gPause(M1, OPEN, 2 hours);
        uint256 end = block.timestamp + 2 hours;
        assertEq(p.liquidationGraceEnds(M1), end + 4 hours);
        vm.expectRevert(bytes("grace"));
        p.liquidate(M1, true);
        p.liquidate(M1, false); // positions unsafe before the pause stay liquidatable
        skip(2 hours + 4 hours - 1);
        vm.expectRevert(bytes("grace"));
        p.liquidate(M1, true);
        skip(1);
        p.liquidate(M1, true);
        // An early unpause starts the grace at once; an ALL_MARKETS pause counts for every market.
        vm.prank(gov);
        p.pause(ALL, DEP, 1 days);
        skip(1 hours);
        vm.prank(gov);
        p.unpause(ALL, DEP);
        assertEq(p.liquidationGraceEnds(M2), block.timestamp + 4 hours);
        assertEq(p.liquidationGraceEnds(M1), block.timestamp + 4 hours);
    }
}
