// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {BastionTimelock} from "../../../contracts/governance/BastionTimelock.sol";
import {GuardAccess} from "../../../contracts/guards/GuardAccess.sol";
import {CallTarget} from "../../mocks/CallTarget.sol";

/// Drives a BastionTimelock with random schedules, cancels, re-proposals, executions and time jumps,
/// and counts every execution outside [readyAt, readyAt + grace) or after a cancel, and every
/// rejection of an execution or cancel that should have worked.
contract TimelockHandler is Test {
    BastionTimelock public tl;
    CallTarget public target;
    address internal proposer;
    address internal guardian;

    struct Op {
        uint256 tag;
        uint256 readyAt;
        uint256 expiresAt;
        bool cancelled;
        bool executed;
    }

    Op[] internal ops;
    uint256 public now_;
    uint256 internal nextTag = 1;

    uint256 public executions;
    uint256 public earlyOrLateExecutions;
    uint256 public cancelledExecutions;
    uint256 public doubleExecutions;
    uint256 public wrongRejections;
    uint256 public guardianCancels;

    constructor(BastionTimelock tl_, CallTarget target_, address proposer_, address guardian_) {
        tl = tl_;
        target = target_;
        proposer = proposer_;
        guardian = guardian_;
        now_ = block.timestamp;
    }

    modifier clock() {
        vm.warp(now_);
        _;
    }

    function _data(uint256 tag) internal pure returns (bytes memory) {
        return abi.encodeCall(CallTarget.ping, (tag));
    }

    function _id(uint256 tag) internal view returns (bytes32) {
        return tl.hashOperation(address(target), 0, _data(tag), bytes32(0), bytes32(0));
    }

    function schedule(uint256 delaySeed) external clock {
        uint256 delay = bound(delaySeed, 48 hours, 5 days);
        uint256 tag = nextTag++;
        vm.prank(proposer);
        tl.schedule(address(target), 0, _data(tag), bytes32(0), bytes32(0), delay);
        ops.push(Op(tag, now_ + delay, now_ + delay + tl.gracePeriod(), false, false));
    }

    /// Propose an expired or cancelled operation again (same id): a fresh delay applies.
    function repropose(uint256 idx, uint256 delaySeed) external clock {
        if (ops.length == 0) return;
        Op storage op = ops[idx % ops.length];
        bool reusable = !op.executed && (op.cancelled || now_ >= op.expiresAt);
        if (!reusable) return;
        uint256 delay = bound(delaySeed, 48 hours, 5 days);
        vm.prank(proposer);
        tl.schedule(address(target), 0, _data(op.tag), bytes32(0), bytes32(0), delay);
        op.readyAt = now_ + delay;
        op.expiresAt = now_ + delay + tl.gracePeriod();
        op.cancelled = false;
    }

    function execute(uint256 idx) external clock {
        if (ops.length == 0) return;
        Op storage op = ops[idx % ops.length];
        bool shouldWork = !op.executed && !op.cancelled && now_ >= op.readyAt && now_ < op.expiresAt;
        try tl.execute(address(target), 0, _data(op.tag), bytes32(0), bytes32(0)) {
            executions++;
            if (now_ < op.readyAt || now_ >= op.expiresAt) earlyOrLateExecutions++;
            if (op.cancelled) cancelledExecutions++;
            if (op.executed) doubleExecutions++;
            op.executed = true;
        } catch {
            if (shouldWork) wrongRejections++;
        }
    }

    function cancel(uint256 idx) external clock {
        if (ops.length == 0) return;
        Op storage op = ops[idx % ops.length];
        bool shouldWork = !op.executed && !op.cancelled && now_ < op.expiresAt;
        bytes32 id = _id(op.tag);
        vm.prank(guardian);
        try tl.cancel(id) {
            guardianCancels++;
            op.cancelled = true;
            if (!shouldWork) wrongRejections++; // cancelled something not pending
        } catch {
            if (shouldWork) wrongRejections++;
        }
    }

    function warp(uint256 dt) external {
        now_ += bound(dt, 0, 6 days);
    }
}

contract TimelockInvariantTest is StdInvariant, Test {
    TimelockHandler internal handler;
    CallTarget internal target;

    function setUp() public {
        vm.warp(1_700_000_000);
        address proposer = makeAddr("proposer");
        address guardian = makeAddr("guardian");
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0);
        BastionTimelock tl =
            new BastionTimelock(48 hours, proposers, executors, guardian, address(0), new GuardAccess[](0));
        target = new CallTarget();
        handler = new TimelockHandler(tl, target, proposer, guardian);
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_neverEarlyLateOrCancelled() public view {
        assertEq(handler.earlyOrLateExecutions(), 0, "executed outside its window");
        assertEq(handler.cancelledExecutions(), 0, "executed after a guardian cancel");
        assertEq(handler.doubleExecutions(), 0, "executed twice");
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_guardianCancelAndExecuteWorkWhenTheyShould() public view {
        assertEq(handler.wrongRejections(), 0, "a valid execute or cancel was refused");
        assertEq(target.calls(), handler.executions());
    }
}
