// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {BastionTimelock} from "../../contracts/governance/BastionTimelock.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {CallTarget} from "../mocks/CallTarget.sol";

contract BastionTimelockTest is Test {
    BastionTimelock internal tl;
    CallTarget internal target;
    address internal proposer = makeAddr("proposer");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");

    uint256 internal constant DELAY = 48 hours;
    uint256 internal constant GRACE = 14 days;

    function setUp() public {
        vm.warp(1_700_000_000);
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0); // anyone executes
        tl = new BastionTimelock(DELAY, proposers, executors, guardian, address(0), new GuardAccess[](0));
        target = new CallTarget();
    }

    // ------------------------------------------------------------ helpers

    function _data(uint256 tag) internal pure returns (bytes memory) {
        return abi.encodeCall(CallTarget.ping, (tag));
    }

    function _schedule(uint256 tag) internal returns (bytes32 id) {
        vm.prank(proposer);
        tl.schedule(address(target), 0, _data(tag), bytes32(0), bytes32(0), DELAY);
        return tl.hashOperation(address(target), 0, _data(tag), bytes32(0), bytes32(0));
    }

    function _execute(uint256 tag) internal {
        tl.execute(address(target), 0, _data(tag), bytes32(0), bytes32(0));
    }

    /// Schedule a self-call, wait, execute it.
    function _selfCall(bytes memory data) internal {
        uint256 delay = tl.getMinDelay();
        vm.prank(proposer);
        tl.schedule(address(tl), 0, data, bytes32(0), bytes32(0), delay);
        vm.warp(block.timestamp + delay);
        tl.execute(address(tl), 0, data, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------ defaults and roles

    function test_defaults() public view {
        assertEq(tl.getMinDelay(), 48 hours);
        assertEq(tl.DEFAULT_DELAY(), 48 hours);
        assertEq(tl.gracePeriod(), 14 days);
        assertTrue(tl.hasRole(tl.CANCELLER_ROLE(), guardian));
        assertFalse(tl.hasRole(tl.PROPOSER_ROLE(), guardian));
        assertFalse(tl.hasRole(tl.EXECUTOR_ROLE(), guardian));
        assertTrue(tl.hasRole(tl.PROPOSER_ROLE(), proposer));
        assertTrue(tl.hasRole(tl.DEFAULT_ADMIN_ROLE(), address(tl)));
    }

    function test_constructorRejectsDelayOutOfBounds() public {
        address[] memory none = new address[](0);
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockValueOutOfBounds.selector, 1 days - 1, 1 days, 30 days)
        );
        new BastionTimelock(1 days - 1, none, none, guardian, address(0), new GuardAccess[](0));
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockValueOutOfBounds.selector, 31 days, 1 days, 30 days)
        );
        new BastionTimelock(31 days, none, none, guardian, address(0), new GuardAccess[](0));
    }

    function test_noGuardianGrantsNoCanceller() public {
        address[] memory none = new address[](0);
        BastionTimelock t = new BastionTimelock(DELAY, none, none, address(0), address(0), new GuardAccess[](0));
        assertFalse(t.hasRole(t.CANCELLER_ROLE(), address(0)));
    }

    function test_guardianCannotScheduleOrExecute() public {
        bytes32 role = tl.PROPOSER_ROLE();
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, role)
        );
        tl.schedule(address(target), 0, _data(1), bytes32(0), bytes32(0), DELAY);
    }

    function test_scheduleBelowMinDelayReverts() public {
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockInsufficientDelay.selector, DELAY - 1, DELAY));
        tl.schedule(address(target), 0, _data(1), bytes32(0), bytes32(0), DELAY - 1);
    }

    // ------------------------------------------------------------ ready window

    function test_cannotExecuteEarly() public {
        bytes32 id = _schedule(1);
        vm.warp(block.timestamp + DELAY - 1);
        assertEq(uint8(tl.getOperationState(id)), uint8(TimelockController.OperationState.Waiting));
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector, id, bytes32(uint256(1 << 2))
            )
        );
        _execute(1);
        assertEq(target.calls(), 0);
    }

    function test_executesWhenReady() public {
        bytes32 id = _schedule(7);
        vm.warp(block.timestamp + DELAY);
        _execute(7);
        assertEq(target.calls(), 1);
        assertEq(target.lastTag(), 7);
        assertEq(target.lastCaller(), address(tl));
        assertTrue(tl.isOperationDone(id));
        assertEq(tl.expiresAt(id), 0);
    }

    function test_executesOneSecondBeforeExpiry() public {
        bytes32 id = _schedule(1);
        vm.warp(block.timestamp + DELAY + GRACE - 1);
        assertTrue(tl.isOperationReady(id));
        assertFalse(tl.isOperationExpired(id));
        _execute(1);
        assertEq(target.calls(), 1);
    }

    function test_expiredOperationNeverExecutes() public {
        uint256 t0 = block.timestamp;
        bytes32 id = _schedule(1);
        assertEq(tl.expiresAt(id), t0 + DELAY + GRACE);
        vm.warp(t0 + DELAY + GRACE);
        assertTrue(tl.isOperationExpired(id));
        assertFalse(tl.isOperationPending(id));
        assertFalse(tl.isOperation(id));
        assertEq(uint8(tl.getOperationState(id)), uint8(TimelockController.OperationState.Unset));
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockOperationExpired.selector, id, t0 + DELAY + GRACE)
        );
        _execute(1);
        vm.warp(t0 + 400 days);
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockOperationExpired.selector, id, t0 + DELAY + GRACE)
        );
        _execute(1);
        assertEq(target.calls(), 0);
    }

    function test_expiredOperationCanBeProposedAgainWithFullDelay() public {
        _schedule(1);
        vm.warp(block.timestamp + DELAY + GRACE);
        bytes32 id = _schedule(1);
        assertEq(uint8(tl.getOperationState(id)), uint8(TimelockController.OperationState.Waiting));
        vm.warp(block.timestamp + DELAY - 1);
        vm.expectRevert();
        _execute(1);
        vm.warp(block.timestamp + 1);
        _execute(1);
        assertEq(target.calls(), 1);
    }

    function test_expiredOperationCannotBeCancelled() public {
        bytes32 id = _schedule(1);
        vm.warp(block.timestamp + DELAY + GRACE);
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector, id, bytes32(uint256((1 << 1) | (1 << 2)))
            )
        );
        tl.cancel(id);
    }

    function test_batchExpires() public {
        address[] memory targets = new address[](2);
        targets[0] = address(target);
        targets[1] = address(target);
        uint256[] memory values = new uint256[](2);
        bytes[] memory payloads = new bytes[](2);
        payloads[0] = _data(1);
        payloads[1] = _data(2);
        vm.prank(proposer);
        tl.scheduleBatch(targets, values, payloads, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperationBatch(targets, values, payloads, bytes32(0), bytes32(0));
        vm.warp(block.timestamp + DELAY + GRACE);
        vm.expectRevert(abi.encodeWithSelector(BastionTimelock.TimelockOperationExpired.selector, id, tl.expiresAt(id)));
        tl.executeBatch(targets, values, payloads, bytes32(0), bytes32(0));
        assertEq(target.calls(), 0);
    }

    function test_batchExecutesInWindow() public {
        address[] memory targets = new address[](2);
        targets[0] = address(target);
        targets[1] = address(target);
        uint256[] memory values = new uint256[](2);
        bytes[] memory payloads = new bytes[](2);
        payloads[0] = _data(1);
        payloads[1] = _data(2);
        vm.prank(proposer);
        tl.scheduleBatch(targets, values, payloads, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        tl.executeBatch(targets, values, payloads, bytes32(0), bytes32(0));
        assertEq(target.calls(), 2);
        assertEq(target.lastTag(), 2);
    }

    function test_expiredPredecessorBlocksSuccessor() public {
        bytes32 first = _schedule(1);
        vm.warp(block.timestamp + DELAY + GRACE); // first expires
        vm.prank(proposer);
        tl.schedule(address(target), 0, _data(2), first, bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnexecutedPredecessor.selector, first));
        tl.execute(address(target), 0, _data(2), first, bytes32(0));
    }

    // ------------------------------------------------------------ guardian cancel

    function test_guardianCancelsWaitingOperation() public {
        bytes32 id = _schedule(1);
        vm.prank(guardian);
        vm.expectEmit(true, false, false, false, address(tl));
        emit TimelockController.Cancelled(id);
        tl.cancel(id);
        assertFalse(tl.isOperation(id));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert();
        _execute(1);
        assertEq(target.calls(), 0);
    }

    function test_guardianCancelsReadyOperation() public {
        bytes32 id = _schedule(1);
        vm.warp(block.timestamp + DELAY + 1 days);
        vm.prank(guardian);
        tl.cancel(id);
        vm.expectRevert();
        _execute(1);
    }

    function test_strangerCannotCancel() public {
        bytes32 id = _schedule(1);
        bytes32 role = tl.CANCELLER_ROLE();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        tl.cancel(id);
    }

    function test_guardianCannotCancelOwnRemoval() public {
        bytes memory revoke = abi.encodeCall(IAccessControl.revokeRole, (tl.CANCELLER_ROLE(), guardian));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, revoke, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperation(address(tl), 0, revoke, bytes32(0), bytes32(0));
        assertEq(tl.protectedFrom(id), guardian);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(BastionTimelock.TimelockCannotCancelOwnRemoval.selector, id, guardian));
        tl.cancel(id);
        vm.warp(block.timestamp + DELAY);
        tl.execute(address(tl), 0, revoke, bytes32(0), bytes32(0));
        assertFalse(tl.hasRole(tl.CANCELLER_ROLE(), guardian));
    }

    function test_proposerCanCancelGuardianRemoval() public {
        bytes memory revoke = abi.encodeCall(IAccessControl.revokeRole, (tl.CANCELLER_ROLE(), guardian));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, revoke, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperation(address(tl), 0, revoke, bytes32(0), bytes32(0));
        vm.prank(proposer);
        tl.cancel(id);
        assertFalse(tl.isOperation(id));
    }

    function test_proposerCannotCancelOwnRemoval() public {
        bytes memory revoke = abi.encodeCall(IAccessControl.revokeRole, (tl.PROPOSER_ROLE(), proposer));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, revoke, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperation(address(tl), 0, revoke, bytes32(0), bytes32(0));
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(BastionTimelock.TimelockCannotCancelOwnRemoval.selector, id, proposer));
        tl.cancel(id);
    }

    function test_batchedRemovalIsNotProtected() public {
        address[] memory targets = new address[](1);
        targets[0] = address(tl);
        uint256[] memory values = new uint256[](1);
        bytes[] memory payloads = new bytes[](1);
        payloads[0] = abi.encodeCall(IAccessControl.revokeRole, (tl.CANCELLER_ROLE(), guardian));
        vm.prank(proposer);
        tl.scheduleBatch(targets, values, payloads, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperationBatch(targets, values, payloads, bytes32(0), bytes32(0));
        assertEq(tl.protectedFrom(id), address(0));
        vm.prank(guardian);
        tl.cancel(id);
    }

    function test_guardianCanCancelOtherRoleChanges() public {
        bytes memory revoke = abi.encodeCall(IAccessControl.revokeRole, (tl.PROPOSER_ROLE(), proposer));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, revoke, bytes32(0), bytes32(0), DELAY);
        bytes32 id = tl.hashOperation(address(tl), 0, revoke, bytes32(0), bytes32(0));
        assertEq(tl.protectedFrom(id), proposer);
        vm.prank(guardian);
        tl.cancel(id);
        assertFalse(tl.isOperation(id));
    }

    // ------------------------------------------------------------ bounded self-administration

    function test_updateDelayOnlyBySelf() public {
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnauthorizedCaller.selector, address(this)));
        tl.updateDelay(1 days);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnauthorizedCaller.selector, address(this)));
        tl.updateGracePeriod(2 days);
    }

    function test_updateDelayThroughTimelock() public {
        bytes memory data = abi.encodeCall(TimelockController.updateDelay, (3 days));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, data, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.expectEmit(false, false, false, true, address(tl));
        emit TimelockController.MinDelayChange(DELAY, 3 days);
        tl.execute(address(tl), 0, data, bytes32(0), bytes32(0));
        assertEq(tl.getMinDelay(), 3 days);
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockInsufficientDelay.selector, DELAY, 3 days));
        tl.schedule(address(target), 0, _data(1), bytes32(0), bytes32(0), DELAY);
    }

    function test_updateDelayCannotGoBelowFloor() public {
        bytes memory data = abi.encodeCall(TimelockController.updateDelay, (0));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, data, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(BastionTimelock.TimelockValueOutOfBounds.selector, 0, 1 days, 30 days));
        tl.execute(address(tl), 0, data, bytes32(0), bytes32(0));
        assertEq(tl.getMinDelay(), DELAY);
    }

    function test_gracePeriodChangeAppliesToNewOperationsOnly() public {
        bytes32 old = _schedule(1);
        uint256 oldExpiry = tl.expiresAt(old);
        _selfCall(abi.encodeCall(BastionTimelock.updateGracePeriod, (2 days)));
        assertEq(tl.gracePeriod(), 2 days);
        assertEq(tl.expiresAt(old), oldExpiry);
        bytes32 fresh = _schedule(2);
        assertEq(tl.expiresAt(fresh), block.timestamp + DELAY + 2 days);
        vm.warp(block.timestamp + DELAY + 2 days);
        assertTrue(tl.isOperationExpired(fresh));
        assertTrue(tl.isOperationReady(old));
        _execute(1);
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockOperationExpired.selector, fresh, tl.expiresAt(fresh))
        );
        _execute(2);
    }

    function test_gracePeriodBounds() public {
        bytes memory data = abi.encodeCall(BastionTimelock.updateGracePeriod, (91 days));
        vm.prank(proposer);
        tl.schedule(address(tl), 0, data, bytes32(0), bytes32(0), DELAY);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(BastionTimelock.TimelockValueOutOfBounds.selector, 91 days, 1 days, 90 days)
        );
        tl.execute(address(tl), 0, data, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------ fuzz

    /// Execution at `elapsed` after scheduling succeeds exactly inside [delay, delay + grace).
    function testFuzz_executionWindow(uint256 delay, uint256 elapsed) public {
        delay = bound(delay, DELAY, 30 days);
        elapsed = bound(elapsed, 0, delay + GRACE * 2);
        vm.prank(proposer);
        tl.schedule(address(target), 0, _data(1), bytes32(0), bytes32(0), delay);
        vm.warp(block.timestamp + elapsed);
        bool inWindow = elapsed >= delay && elapsed < delay + GRACE;
        if (!inWindow) vm.expectRevert();
        _execute(1);
        assertEq(target.calls(), inWindow ? 1 : 0);
    }
}
