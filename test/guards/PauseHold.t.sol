// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {BastionTimelock} from "../../contracts/governance/BastionTimelock.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {HeldPause} from "../../contracts/guards/HeldPause.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {PauseHarness} from "./harness/PauseHarness.sol";

/// @notice A guardian pause held until governance's remedy is decided, with a real BastionTimelock as
///         governance (48 h delay, 14 days grace).
contract PauseHoldTest is Test {
    PauseHarness internal p;
    BastionTimelock internal tl;
    address internal proposer = makeAddr("proposer");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");
    uint256 internal constant M1 = 1;
    uint256 internal constant ALL = PauseOps.ALL_MARKETS;
    uint32 internal constant WD = uint32(1) << PauseOps.WITHDRAW;
    uint32 internal constant OPEN = uint32(1) << PauseOps.OPEN;

    function setUp() public {
        vm.warp(1_750_000_000);
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0);
        tl = new BastionTimelock(48 hours, proposers, executors, guardian, address(0), new GuardAccess[](0));
        p = new PauseHarness(address(tl), guardian);
    }

    /// @dev The remedy: governance lifts the pause's ops (any call would do; only the salt ties it).
    function _remedy(uint256 market, uint32 ops) internal pure returns (bytes memory) {
        return abi.encodeCall(ScopedPause.unpause, (market, ops));
    }

    function _schedule(bytes memory data, bytes32 salt) internal returns (bytes32 id) {
        vm.prank(proposer);
        tl.schedule(address(p), 0, data, bytes32(0), salt, 48 hours);
        id = tl.hashOperation(address(p), 0, data, bytes32(0), salt);
    }

    function _gPause(uint256 market, uint32 ops, uint256 d) internal {
        vm.prank(guardian);
        p.pause(market, ops, d);
    }

    function _hold(uint256 market, bytes memory data) internal {
        vm.prank(guardian);
        p.holdPause(market, address(p), 0, data, bytes32(0));
    }

    function test_hold_lastsUntilRemedyReadyPlusWindow_exitsOpen() public {
        _gPause(ALL, WD, 24 hours);
        skip(3 hours);
        bytes memory data = _remedy(ALL, WD);
        bytes32 id = _schedule(data, p.remedySalt(ALL));
        uint256 until = block.timestamp + 48 hours + p.HOLD_AFTER_READY();
        vm.expectEmit(address(p));
        emit HeldPause.PauseHeld(ALL, id, until, guardian);
        _hold(ALL, data);
        assertEq(p.holdOf(ALL), id);
        skip(47 hours); // far past the guardian's own 24 h
        assertTrue(p.isPaused(PauseOps.WITHDRAW, M1));
        p.act(PauseOps.CLOSE, M1); // exits stay open
        p.act(PauseOps.LIQUIDATE, M1);
        // Still queued: nobody can release.
        vm.expectRevert(abi.encodeWithSelector(HeldPause.RemedyStillQueued.selector, ALL, id));
        p.releaseHold(ALL);
        // Past ready + window the hold lapses by itself, even if nobody executes.
        skip(until - block.timestamp);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
    }

    function test_hold_endsWhenRemedyExecutes() public {
        _gPause(ALL, WD | OPEN, 24 hours);
        bytes memory data = _remedy(ALL, OPEN); // governance reopens OPEN, keeps WITHDRAW
        bytes32 id = _schedule(data, p.remedySalt(ALL));
        _hold(ALL, data);
        skip(48 hours);
        tl.execute(address(p), 0, data, bytes32(0), p.remedySalt(ALL));
        assertTrue(p.isPaused(PauseOps.WITHDRAW, M1));
        vm.expectEmit(address(p));
        emit HeldPause.HoldReleased(ALL, id, true, stranger);
        vm.prank(stranger);
        p.releaseHold(ALL);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
        assertEq(p.holdOf(ALL), bytes32(0));
    }

    function test_hold_endsWhenRemedyCancelled() public {
        _gPause(M1, WD, 12 hours);
        bytes memory data = _remedy(M1, WD);
        bytes32 id = _schedule(data, p.remedySalt(M1));
        _hold(M1, data);
        skip(20 hours);
        vm.prank(guardian); // the guardian Safe is a canceller
        tl.cancel(id);
        p.releaseHold(M1);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
        // The cooldown runs from the release.
        (,, uint40 windowEnds, uint40 next) = _scope(M1);
        assertEq(windowEnds, 0);
        assertEq(next, block.timestamp + 48 hours);
    }

    function test_hold_endsWhenRemedyExpires() public {
        _gPause(M1, WD, 12 hours);
        bytes memory data = _remedy(M1, WD);
        _schedule(data, p.remedySalt(M1));
        _hold(M1, data);
        skip(48 hours + 14 days); // ready, then its grace period passes unexecuted
        p.releaseHold(M1);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
    }

    /// @dev A stolen guardian key alone: no remedy, or an operation without the scope's salt, or another
    ///      scope's remedy, gives no hold; the pause still ends after 24 h, then a 48 h cooldown.
    function test_stolenGuardian_cannotHold() public {
        _gPause(M1, WD, 24 hours);
        bytes memory data = _remedy(M1, WD);
        bytes32 noId = tl.hashOperation(address(p), 0, data, bytes32(0), p.remedySalt(M1));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(HeldPause.NoRemedyQueued.selector, M1, noId));
        p.holdPause(M1, address(p), 0, data, bytes32(0));
        // A routine operation (other salt) and another scope's remedy do not count.
        _schedule(data, bytes32("routine"));
        _schedule(data, p.remedySalt(2));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(HeldPause.NoRemedyQueued.selector, M1, noId));
        p.holdPause(M1, address(p), 0, data, bytes32(0));
        skip(24 hours);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.GuardianCooldown.selector, M1, block.timestamp + 48 hours));
        p.pause(M1, WD, 1 hours);
    }

    function test_hold_needsLiveGuardianPause_andNoExtensionBeyond() public {
        bytes memory data = _remedy(M1, WD);
        _schedule(data, p.remedySalt(M1));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ScopedPause.NotPaused.selector, M1));
        p.holdPause(M1, address(p), 0, data, bytes32(0));
        vm.prank(stranger);
        vm.expectRevert(); // only the guardian (or governance)
        p.holdPause(M1, address(p), 0, data, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(HeldPause.NotHeld.selector, M1));
        p.releaseHold(M1);
        _gPause(M1, WD, 1 hours);
        _hold(M1, data);
        // The guardian cannot stretch a held pause further itself.
        (, uint40 until,,) = _scope(M1);
        vm.prank(guardian);
        vm.expectRevert();
        p.extendPause(M1, uint256(until) + 1);
    }

    /// @dev A batch remedy: the batch, then a marker with the batch as predecessor and the scope's salt.
    function test_hold_batchRemedyThroughAMarker() public {
        _gPause(M1, WD, 24 hours);
        address[] memory targets = new address[](2);
        uint256[] memory values = new uint256[](2);
        bytes[] memory payloads = new bytes[](2);
        targets[0] = address(p);
        targets[1] = address(p);
        payloads[0] = _remedy(M1, WD);
        payloads[1] = abi.encodeCall(ScopedPause.setPauseParams, (24 hours, 48 hours, 4 hours));
        vm.prank(proposer);
        tl.scheduleBatch(targets, values, payloads, bytes32(0), bytes32("batch"), 48 hours);
        bytes32 batchId = tl.hashOperationBatch(targets, values, payloads, bytes32(0), bytes32("batch"));
        bytes memory marker = abi.encodeCall(HeldPause.remedySalt, (M1));
        bytes32 salt = p.remedySalt(M1);
        vm.prank(proposer);
        tl.schedule(address(p), 0, marker, batchId, salt, 48 hours);
        vm.prank(guardian);
        p.holdPause(M1, address(p), 0, marker, batchId);
        skip(48 hours);
        assertTrue(p.isPaused(PauseOps.WITHDRAW, M1));
        vm.expectRevert(); // the marker waits for the batch
        tl.execute(address(p), 0, marker, batchId, salt);
        tl.executeBatch(targets, values, payloads, bytes32(0), bytes32("batch"));
        tl.execute(address(p), 0, marker, batchId, salt);
        p.releaseHold(M1);
        assertFalse(p.isPaused(PauseOps.WITHDRAW, M1));
    }

    /// @dev A stale hold never ends a later, unrelated guardian episode.
    function test_staleHold_doesNotEndNextEpisode() public {
        _gPause(M1, WD, 1 hours);
        bytes memory data = _remedy(M1, WD);
        bytes32 id = _schedule(data, p.remedySalt(M1));
        _hold(M1, data);
        vm.prank(guardian);
        tl.cancel(id);
        skip(121 hours); // the hold lapsed by itself (ready + 24 h = 72 h), then the 48 h cooldown
        _gPause(M1, WD, 2 hours);
        assertEq(p.holdOf(M1), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(HeldPause.NotHeld.selector, M1));
        p.releaseHold(M1);
        assertTrue(p.isPaused(PauseOps.WITHDRAW, M1));
    }

    function _scope(uint256 market) internal view returns (uint32, uint40, uint40, uint40) {
        ScopedPause.Scope memory s = p.scopeOf(market);
        return (s.ops, s.pausedUntil, s.guardianWindowEnds, s.guardianNextPause);
    }
}
