// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {PauseOps} from "../../../contracts/guards/PauseOps.sol";
import {PauseHarness} from "../harness/PauseHarness.sol";

/// @notice A guardian acting at random (pause, extend, unpause any scope, including ALL_MARKETS, with ops
///         it may pause most of the time and exit ops now and then, and any durations) while time passes
///         and users exit. Tracks, per market, the episodes during which it is paused by its own scope or
///         by ALL_MARKETS. Governance pauses (exits included), extends and unpauses market 3, which the
///         guardian also tries to pause; exits there may fail only while the model says governance paused
///         them.
contract PauseHandler is Test {
    PauseHarness public p;
    uint256 public constant BOUND = 24 hours;
    uint256 public constant COOLDOWN = 48 hours;
    uint8[4] internal exits = [PauseOps.CLOSE, PauseOps.REPAY, PauseOps.ADD_COLLATERAL, PauseOps.LIQUIDATE];

    struct Episode {
        bool live;
        uint256 start;
        uint256 end; // current planned end while live; actual end once over
        bool ended; // at least one episode has ended
    }

    mapping(uint256 market => Episode) internal ep;
    uint256 public longestEpisode;
    uint256 public shortestGap = type(uint256).max;
    uint256 public exitFailures;
    uint256 public episodes;
    address public constant GOV = address(0xD00D);
    uint256 public govPauses;
    uint256 public guardianPauses;
    uint256 public guardianExitAttempts; // pause calls whose mask had an exit op
    uint256 public guardianExitPauses; // ... and went through (must stay 0)
    // Model of market 3's governance pause: ops and end.
    uint32 internal govOps;
    uint256 internal govUntil;

    constructor() {
        p = new PauseHarness(GOV, address(this)); // this handler is the guardian
    }

    function _end(uint256 market) internal view returns (uint256 end) {
        PauseHarness.Scope memory s = p.scopeOf(market);
        if (s.ops != 0 && s.pausedUntil > block.timestamp) end = s.pausedUntil;
        if (market != 0) {
            PauseHarness.Scope memory g = p.scopeOf(0);
            if (g.ops != 0 && g.pausedUntil > block.timestamp && g.pausedUntil > end) end = g.pausedUntil;
        }
    }

    /// @dev Close episodes that lapsed since the last step, before acting.
    function _before() internal {
        for (uint256 m = 1; m <= 2; ++m) {
            Episode storage e = ep[m];
            if (e.live && e.end <= block.timestamp) {
                e.live = false;
                e.ended = true;
            }
        }
    }

    /// @dev Open, extend or close (unpause) episodes after acting.
    function _after() internal {
        for (uint256 m = 1; m <= 2; ++m) {
            Episode storage e = ep[m];
            uint256 end = _end(m);
            if (end != 0) {
                if (!e.live) {
                    if (e.ended && block.timestamp - e.end < shortestGap) shortestGap = block.timestamp - e.end;
                    e.live = true;
                    e.start = block.timestamp;
                    ++episodes;
                }
                e.end = end;
                if (end - e.start > longestEpisode) longestEpisode = end - e.start;
            } else if (e.live) {
                e.live = false;
                e.ended = true;
                e.end = block.timestamp;
            }
        }
    }

    /// @dev Seven times in eight a mask of ops the guardian may pause, else any mask (exits included).
    function pause(uint256 market, uint32 ops, uint256 duration) external {
        _before();
        if (ops % 8 != 0) ops = (ops & ~PauseOps.EXIT_OPS & 0xff) | 1;
        bool exits = ops & PauseOps.EXIT_OPS != 0;
        if (exits) ++guardianExitAttempts;
        try p.pause(market % 4, ops, bound(duration, 0, 30 hours)) {
            ++guardianPauses;
            if (exits) ++guardianExitPauses;
        } catch {}
        _after();
    }

    /// @dev Governance on market 3: pause any ops (exits included) for up to 3 days, or unpause some.
    function govPause(uint32 ops, uint256 duration, bool lift) external {
        _before();
        vm.startPrank(GOV);
        if (lift) {
            ops = ops | 1;
            try p.unpause(3, ops) {
                govOps &= ~ops;
                if (govOps == 0) govUntil = block.timestamp;
            } catch {}
        } else {
            ops = (ops & 0xfff) | PauseOps.bit(PauseOps.CLOSE);
            duration = bound(duration, 1, 3 days);
            p.pause(3, ops, duration);
            ++govPauses;
            govOps = (govUntil > block.timestamp ? govOps : 0) | ops;
            govUntil = block.timestamp + duration;
        }
        vm.stopPrank();
        _after();
    }

    function extend(uint256 market, uint256 by) external {
        _before();
        try p.extendPause(market % 3, block.timestamp + bound(by, 0, 30 hours)) {} catch {}
        _after();
    }

    function unpause(uint256 market, uint32 ops) external {
        _before();
        try p.unpause(market % 3, ops) {} catch {}
        _after();
    }

    function warp(uint256 dt) external {
        skip(bound(dt, 1, 40 hours));
        _before();
        _after();
    }

    function exit(uint256 which, uint256 market) external {
        uint8 op = exits[which % 4];
        market %= 4;
        bool govPaused = market == 3 && govUntil > block.timestamp && (govOps >> op) & 1 != 0;
        try p.act(op, market) {
            if (govPaused) ++exitFailures; // governance's pause did not hold
        } catch {
            if (!govPaused) ++exitFailures;
        }
    }
}

contract PauseInvariantTest is Test {
    /// @notice Every run reached guardian episodes and governance pauses (a non-vacuous handler).
    function afterInvariant() public view {
        assertGt(h.episodes(), 0, "no guardian episode in the run");
        assertGt(h.guardianPauses() + h.govPauses(), 0);
    }

    PauseHandler internal h;

    function setUp() public {
        vm.warp(1_750_000_000);
        h = new PauseHandler();
        targetContract(address(h));
    }

    /// @notice A guardian never keeps a market paused longer than the bound, and waits at least the
    ///         cooldown between two episodes (own scope and ALL_MARKETS together), so within any
    ///         bound + cooldown it pauses a market for at most the bound.
    function invariant_guardianPauseBoundedPerCycle() public view {
        assertLe(h.longestEpisode(), h.BOUND());
        if (h.shortestGap() != type(uint256).max) assertGe(h.shortestGap(), h.COOLDOWN());
    }

    /// @notice Exits (close, repay, add collateral, liquidate) always succeed and are never paused.
    function invariant_exitsNeverPaused() public view {
        assertEq(h.exitFailures(), 0);
        assertEq(h.guardianExitPauses(), 0, "the guardian paused an exit");
        PauseHarness p = h.p();
        for (uint256 m; m < 3; ++m) {
            assertFalse(p.isPaused(PauseOps.CLOSE, m));
            assertFalse(p.isPaused(PauseOps.REPAY, m));
            assertFalse(p.isPaused(PauseOps.ADD_COLLATERAL, m));
            assertFalse(p.isPaused(PauseOps.LIQUIDATE, m));
        }
    }
}
