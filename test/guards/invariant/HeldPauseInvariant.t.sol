// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {BastionTimelock} from "../../../contracts/governance/BastionTimelock.sol";
import {GuardAccess} from "../../../contracts/guards/GuardAccess.sol";
import {ScopedPause} from "../../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../../contracts/guards/PauseOps.sol";
import {PauseHarness} from "../harness/PauseHarness.sol";

/// @notice A guardian (this handler) pausing and trying to hold at random, a proposer queueing routine
///         operations and, in one scope only, remedies; anyone executing, cancelling and releasing; time
///         passing. The model (what was queued, when it becomes ready, for which scope) is the handler's
///         own bookkeeping, not the contract's.
contract HeldPauseHandler is Test {
    PauseHarness public p;
    BastionTimelock public tl;
    address internal proposer = makeAddr("proposer");
    uint256 public constant DELAY = 48 hours;
    /// @dev Only scope 1 ever gets remedies; scope 2 and ALL_MARKETS model a guardian acting alone.
    uint256 public constant REMEDIED = 1;

    struct Op {
        bytes32 id;
        bytes data;
        bytes32 salt;
        uint256 readyAt;
        uint256 scope; // the scope its salt names (type(uint256).max: a routine operation)
    }

    Op[] internal ops;
    mapping(bytes32 id => uint256) public readyAtOf; // model: when each queued remedy becomes ready
    mapping(uint256 scope => uint256) public episodeStart;
    uint256 public holds;
    uint256 public badHolds;

    constructor() {
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0);
        tl = new BastionTimelock(DELAY, proposers, executors, address(this), address(0), new GuardAccess[](0));
        p = new PauseHarness(address(tl), address(this));
    }

    function _scope(uint256 seed) internal pure returns (uint256) {
        return seed % 3; // 0 = ALL_MARKETS, 1, 2
    }

    function _noteEpisodes() internal {
        for (uint256 m; m < 3; ++m) {
            ScopedPause.Scope memory s = p.scopeOf(m);
            bool live = s.ops != 0 && s.pausedUntil > block.timestamp;
            if (!live) episodeStart[m] = 0;
        }
    }

    function pause(uint256 seed, uint32 mask, uint256 duration) external {
        _noteEpisodes();
        uint256 m = _scope(seed);
        mask = (mask | 1) & ~PauseOps.EXIT_OPS;
        duration = bound(duration, 1, 30 hours);
        bool wasLive = p.scopeOf(m).pausedUntil > block.timestamp && p.scopeOf(m).ops != 0;
        try p.pause(m, mask, duration) {
            if (!wasLive) episodeStart[m] = block.timestamp;
        } catch {}
    }

    function schedule(uint256 seed, bool remedy) external {
        uint256 m = _scope(seed);
        bool isRemedy = remedy && m == REMEDIED;
        bytes memory data = abi.encodeCall(ScopedPause.unpause, (m, uint32(1)));
        bytes32 salt = isRemedy ? p.remedySalt(m) : keccak256(abi.encode("routine", ops.length));
        bytes32 id = tl.hashOperation(address(p), 0, data, bytes32(0), salt);
        if (tl.getTimestamp(id) != 0) return;
        vm.prank(proposer);
        tl.schedule(address(p), 0, data, bytes32(0), salt, DELAY);
        ops.push(Op(id, data, salt, block.timestamp + DELAY, isRemedy ? m : type(uint256).max));
        if (isRemedy) readyAtOf[id] = block.timestamp + DELAY;
    }

    /// @dev The guardian tries to hold any scope with any queued operation (routine ones must fail).
    function hold(uint256 seed, uint256 opSeed) external {
        _noteEpisodes();
        if (ops.length == 0) return;
        uint256 m = _scope(seed);
        Op memory o = ops[opSeed % ops.length];
        try p.holdPause(m, address(p), 0, o.data, bytes32(0)) {
            // The guard computes the id with this scope's salt: it must be a remedy the model queued.
            if (m != REMEDIED || readyAtOf[p.holdOf(m)] == 0) ++badHolds;
            ++holds;
        } catch {}
    }

    function execute(uint256 opSeed) external {
        if (ops.length == 0) return;
        Op memory o = ops[opSeed % ops.length];
        try tl.execute(address(p), 0, o.data, bytes32(0), o.salt) {} catch {}
    }

    function cancel(uint256 opSeed) external {
        if (ops.length == 0) return;
        Op memory o = ops[opSeed % ops.length];
        try tl.cancel(o.id) {} catch {}
    }

    function release(uint256 seed) external {
        try p.releaseHold(_scope(seed)) {} catch {}
        _noteEpisodes();
    }

    function warp(uint256 dt) external {
        skip(bound(dt, 1, 30 hours));
        _noteEpisodes();
    }

    function exit(uint256 seed) external view {
        uint8[4] memory exits = [PauseOps.CLOSE, PauseOps.REPAY, PauseOps.ADD_COLLATERAL, PauseOps.LIQUIDATE];
        p.check(exits[seed % 4], _scope(seed)); // reverts (and fails the invariant run) if ever paused
    }
}

contract HeldPauseInvariantTest is StdInvariant, Test {
    HeldPauseHandler internal h;

    function setUp() public {
        vm.warp(1_750_000_000);
        h = new HeldPauseHandler();
        targetContract(address(h));
    }

    /// @dev A scope paused beyond the guardian's 24 h is held for a queued remedy of that very scope,
    ///      and never beyond that remedy's ready time + 24 h. Without remedies (scope 2, ALL_MARKETS) the
    ///      guardian alone never exceeds 24 h.
    function invariant_pausePastTheGuardianBoundOnlyForThatScopesRemedy() public view {
        PauseHarness p = h.p();
        for (uint256 m; m < 3; ++m) {
            ScopedPause.Scope memory s = p.scopeOf(m);
            if (s.ops == 0 || s.pausedUntil <= block.timestamp) continue;
            uint256 start = h.episodeStart(m);
            if (start == 0 || s.guardianWindowEnds == 0) continue; // governance's own pause
            if (s.pausedUntil <= start + 24 hours) continue;
            assertEq(m, h.REMEDIED(), "a scope without remedies paused past 24 h");
            bytes32 id = p.holdOf(m);
            uint256 readyAt = h.readyAtOf(id);
            assertTrue(readyAt != 0, "held without a queued remedy of this scope");
            assertLe(s.pausedUntil, readyAt + 24 hours, "held past the remedy's ready time + 24 h");
        }
    }

    function invariant_holdsOnlyForQueuedRemedies() public view {
        assertEq(h.badHolds(), 0);
    }

    function invariant_exitsNeverPaused() public view {
        PauseHarness p = h.p();
        for (uint256 m; m < 3; ++m) {
            assertEq(p.scopeOf(m).ops & PauseOps.EXIT_OPS, 0);
        }
    }

    function test_handlerReachesHolds() public {
        h.pause(1, 2, 20 hours);
        h.schedule(1, true);
        h.hold(1, 0);
        assertEq(h.holds(), 1);
    }
}
