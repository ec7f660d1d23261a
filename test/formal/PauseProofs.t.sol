// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {PauseHarness} from "../guards/harness/PauseHarness.sol";

/// @notice Halmos proofs (`make proofs`) of ScopedPause's guardian bounds. Every argument of a `check_`
///         function is symbolic: the guardian's calls, their arguments and the time between them.
///         Bounded: a first guardian episode on one market, then one more guardian call on that market or
///         on ALL_MARKETS up to 40 days later. The expected ends are computed here from the call times.
contract PauseProofs is Test {
    PauseHarness internal p;
    address internal constant GOV = address(0x60F);
    address internal constant GUARDIAN = address(0x6A4D);
    uint256 internal constant MAX_PAUSE = 24 hours; // PauseHarness's guardianMaxPause
    uint256 internal constant COOLDOWN = 48 hours; // PauseHarness's guardianCooldown
    uint256 internal constant MARKET = 7;

    function setUp() public {
        vm.warp(1_750_000_000);
        p = new PauseHarness(GOV, GUARDIAN);
    }

    function _scope(bool all) internal pure returns (uint256) {
        return all ? PauseOps.ALL_MARKETS : MARKET;
    }

    function _live(uint256 market) internal view returns (bool) {
        ScopedPause.Scope memory s = p.scopeOf(market);
        return s.ops != 0 && s.pausedUntil > block.timestamp;
    }

    function _end(uint256 market) internal view returns (uint256) {
        return p.scopeOf(market).pausedUntil;
    }

    /// @dev One guardian call: kind 0 pause, 1 extend, 2 unpause; failures are allowed (and change nothing).
    function _act(uint8 kind, bool all, uint32 ops, uint256 x) internal returns (bool ok) {
        uint256 m = _scope(all);
        vm.prank(GUARDIAN);
        if (kind == 0) {
            try p.pause(m, ops, x) {
                ok = true;
            } catch {}
        } else if (kind == 1) {
            try p.extendPause(m, x) {
                ok = true;
            } catch {}
        } else {
            try p.unpause(m, ops) {
                ok = true;
            } catch {}
        }
    }

    function _noExitPaused() internal view {
        uint32 exits = PauseOps.EXIT_OPS;
        assert(p.scopeOf(MARKET).ops & exits == 0);
        assert(p.scopeOf(PauseOps.ALL_MARKETS).ops & exits == 0);
        assert(!p.isPaused(PauseOps.CLOSE, MARKET));
        assert(!p.isPaused(PauseOps.REPAY, MARKET));
        assert(!p.isPaused(PauseOps.ADD_COLLATERAL, MARKET));
        assert(!p.isPaused(PauseOps.LIQUIDATE, MARKET));
    }

    /// @notice Any guardian call asking for an exit op reverts, whatever the state and arguments.
    function check_guardianPauseOfExitReverts(uint256 market, uint32 ops, uint256 duration) public {
        vm.assume(ops & PauseOps.EXIT_OPS != 0);
        vm.prank(GUARDIAN);
        try p.pause(market, ops, duration) {
            assert(false);
        } catch {}
    }

    /// @dev The guardian's first episode on MARKET: `ops` (no exit) for `duration`, from a fresh state.
    function _firstEpisode(uint32 ops, uint256 duration) internal returns (uint256 start) {
        vm.assume(ops != 0 && ops & PauseOps.EXIT_OPS == 0 && duration != 0 && duration <= MAX_PAUSE);
        start = block.timestamp;
        vm.prank(GUARDIAN);
        p.pause(MARKET, ops, duration);
        assert(_end(MARKET) == start + duration);
    }

    /// @notice Extending or adding ops to a live guardian episode never takes it past its start plus
    ///         guardianMaxPause, on the market's own scope or ALL_MARKETS.
    function check_guardianEpisodeNeverOutlastsMax(
        uint32 ops,
        uint256 duration,
        uint256 dt,
        bool extend,
        bool all,
        uint32 ops2,
        uint256 x
    ) public {
        uint256 start = _firstEpisode(ops, duration);
        vm.assume(dt < 40 days);
        vm.warp(block.timestamp + dt);
        bool wasLive = _live(MARKET);
        if (_act(extend ? 1 : 0, all, ops2, x) && wasLive) {
            assert(_end(MARKET) <= start + MAX_PAUSE);
            assert(_end(PauseOps.ALL_MARKETS) <= start + MAX_PAUSE);
        }
        _noExitPaused();
    }

    /// @notice After an episode ends (by expiry or an early unpause), the guardian's next episode on the
    ///         market or on ALL_MARKETS starts at least guardianCooldown after that end.
    function check_guardianCooldownAfterEpisode(
        uint32 ops,
        uint256 duration,
        uint256 dtUnpause,
        bool unpauseEarly,
        uint256 dt,
        bool all,
        uint32 ops2,
        uint256 duration2
    ) public {
        _firstEpisode(ops, duration);
        if (unpauseEarly) {
            vm.assume(dtUnpause < duration);
            vm.warp(block.timestamp + dtUnpause);
            vm.prank(GUARDIAN);
            p.unpause(MARKET, ops);
        }
        uint256 ended = _end(MARKET);
        vm.assume(dt < 40 days);
        vm.warp(block.timestamp + dt);
        if (block.timestamp >= ended) {
            if (_act(0, all, ops2, duration2)) assert(block.timestamp >= ended + COOLDOWN);
        }
        _noExitPaused();
    }
}
