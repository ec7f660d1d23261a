// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "./GuardAccess.sol";
import {PauseOps} from "./PauseOps.sol";

/// @title ScopedPause
/// @notice Pauses per operation and per market, each with an end time. The guardian pauses fast but
///         briefly (at most `guardianMaxPause`, then a `guardianCooldown` before it may pause that scope
///         again) and can never pause an exit; governance pauses longer, unpauses early and replaces the
///         guardian. The power to pause never lapses; every individual pause does.
/// @dev A scope is a market id (`PauseOps.ALL_MARKETS` = 0 covers every market). Each scope has a mask
///      of paused ops and one `pausedUntil`. A global summary word (mask of ops paused anywhere + latest
///      end) makes `_requireNotPaused` cost one SLOAD whenever nothing relevant is paused, including after
///      every pause has expired.
///      Guardian episodes affecting a market (its own scope or ALL_MARKETS) never overlap and are
///      separated by at least the cooldown, so in any interval of `guardianMaxPause + guardianCooldown`
///      the guardian keeps a market paused for at most `guardianMaxPause`.
///      HeldPause (an extension) holds a guardian episode until governance's queued remedy is decided,
///      through `_holdEpisode` and `_endHeldEpisode`; a new guardian episode always starts unheld.
abstract contract ScopedPause is GuardAccess {
    /// @notice One scope's state (one slot).
    /// @param ops Paused ops mask (meaningful while `block.timestamp < pausedUntil`).
    /// @param pausedUntil End of the current or last pause; set to the unpause time on an early end.
    /// @param guardianWindowEnds While a guardian episode runs: the latest end the guardian may set.
    ///        Zero when the current pause belongs to governance.
    /// @param guardianNextPause Earliest time the guardian may start a new episode on this scope.
    struct Scope {
        uint32 ops;
        uint40 pausedUntil;
        uint40 guardianWindowEnds;
        uint40 guardianNextPause;
    }

    /// @notice Bounded timing parameters (one slot).
    struct PauseParams {
        uint32 guardianMaxPause;
        uint32 guardianCooldown;
        uint32 liquidationGrace;
        /// @dev Max of every market scope's guardianNextPause: the guardian's ALL_MARKETS pause waits for it.
        uint40 guardianMarketsNextPause;
    }

    /// @notice Lower bound of `guardianMaxPause`.
    uint256 public constant MIN_GUARDIAN_PAUSE = 1 hours;
    /// @notice Upper bound of `guardianMaxPause`.
    uint256 public constant MAX_GUARDIAN_PAUSE = 72 hours;
    /// @notice Lower bound of `guardianCooldown`.
    uint256 public constant MIN_GUARDIAN_COOLDOWN = 1 hours;
    /// @notice Upper bound of `guardianCooldown`.
    uint256 public constant MAX_GUARDIAN_COOLDOWN = 30 days;
    /// @notice Upper bound of `liquidationGrace`.
    uint256 public constant MAX_LIQUIDATION_GRACE = 4 hours;
    /// @notice Furthest ahead governance may set a pause's end in one call.
    uint256 public constant MAX_GOVERNANCE_PAUSE = 30 days;
    /// @dev [0,32) ops paused somewhere | [32,72) latest end of any pause.
    uint256 private _pauseSummary;
    PauseParams private _pauseParams;
    mapping(uint256 market => Scope) private _scopes;
    /// @dev Timelock operation id of the remedy a held pause waits for (zero: not held). Used by HeldPause.
    mapping(uint256 market => bytes32) internal _holds;

    /// @notice `ops` of `market` were paused (or more ops added) until `until` by `by`.
    event Paused(uint256 indexed market, uint32 ops, uint256 until, address indexed by);
    /// @notice A live pause of `market` was extended to `until` by `by`.
    event PauseExtended(uint256 indexed market, uint256 until, address indexed by);
    /// @notice `ops` of `market` were unpaused early by `by`; `remainingOps` stay paused.
    event Unpaused(uint256 indexed market, uint32 ops, uint32 remainingOps, address indexed by);
    /// @notice Governance changed the pause timing parameters.
    event PauseParamsUpdated(uint256 guardianMaxPause, uint256 guardianCooldown, uint256 liquidationGrace);

    /// @notice `op` is paused in `market` (or in all markets) until `until`.
    error OperationPaused(uint8 op, uint256 market, uint256 until);
    /// @notice The guardian tried to pause an exit op.
    error ExitNotPausable(uint32 ops);
    /// @notice Empty or out-of-range ops mask.
    error InvalidOps(uint32 ops);
    /// @notice A duration or end time outside the caller's bound.
    error PauseOutOfBounds(uint256 market, uint256 until, uint256 maxUntil);
    /// @notice The guardian must wait until `nextAllowed` before pausing this scope again.
    error GuardianCooldown(uint256 market, uint256 nextAllowed);
    /// @notice The scope is under a governance pause that the guardian may not touch.
    error GovernancePauseActive(uint256 market);
    /// @notice Nothing is paused in this scope.
    error NotPaused(uint256 market);
    /// @notice A timing parameter outside its bounds.
    error InvalidPauseParam(bytes32 which, uint256 value);

    /// @param guardianMaxPause_ Longest guardian episode per scope (default 24 h).
    /// @param guardianCooldown_ Wait after an episode before the guardian may pause the scope again (48 h).
    /// @param liquidationGrace_ Grace after a pause ends during which liquidations may be refused (4 h).
    constructor(uint256 guardianMaxPause_, uint256 guardianCooldown_, uint256 liquidationGrace_) {
        _setPauseParams(guardianMaxPause_, guardianCooldown_, liquidationGrace_);
    }

    // ------------------------------------------------------------------------------------------------
    // Hot path
    // ------------------------------------------------------------------------------------------------

    /// @notice Revert if `op` is paused in `market` or in all markets.
    /// @dev One SLOAD when `op` is not paused anywhere (or every pause has ended).
    function _requireNotPaused(uint8 op, uint256 market) internal view {
        if (_maybePaused(op)) _requireNotPausedSlow(op, market);
    }

    /// @notice Modifier form of `_requireNotPaused` (inlined: saves a call on the hot path).
    modifier whenNotPaused(uint8 op, uint256 market) {
        if (_maybePaused(op)) _requireNotPausedSlow(op, market);
        _;
    }

    function _maybePaused(uint8 op) private view returns (bool maybe) {
        assembly ("memory-safe") {
            let s := sload(_pauseSummary.slot)
            maybe := and(shr(op, s), gt(shr(32, s), timestamp()))
        }
    }

    function _requireNotPausedSlow(uint8 op, uint256 market) private view {
        Scope memory a = _scopes[market];
        if ((a.ops >> op) & 1 != 0 && a.pausedUntil > block.timestamp) {
            revert OperationPaused(op, market, a.pausedUntil);
        }
        if (market != PauseOps.ALL_MARKETS) {
            Scope memory g = _scopes[PauseOps.ALL_MARKETS];
            if ((g.ops >> op) & 1 != 0 && g.pausedUntil > block.timestamp) {
                revert OperationPaused(op, PauseOps.ALL_MARKETS, g.pausedUntil);
            }
        }
    }

    /// @notice Called by `pause` before it changes `market`'s scope, whose state is still `prior`.
    ///         Override to record what a pause's start means to the protocol (e.g. prices).
    function _beforePause(uint256 market, uint32 ops, Scope memory prior) internal virtual {}

    /// @notice Ops the guardian may never pause. Override to add protocol-specific exits.
    function _exitOps() internal pure virtual returns (uint32) {
        return PauseOps.EXIT_OPS;
    }

    // ------------------------------------------------------------------------------------------------
    // Guardian and governance
    // ------------------------------------------------------------------------------------------------

    /// @notice Pause `ops` in `market` for `duration` seconds.
    /// @dev Guardian: no exit op, duration <= guardianMaxPause; a new episode needs the scope's cooldown
    ///      over (and for ALL_MARKETS every market's); during its own episode it may add ops or extend up to
    ///      the episode's start + guardianMaxPause; it may not touch a governance pause.
    ///      Governance: any ops; sets the scope's end to now + duration (<= MAX_GOVERNANCE_PAUSE), which may
    ///      also shorten it; the pause becomes governance's.
    /// @param market Market id, or PauseOps.ALL_MARKETS (0).
    /// @param ops Mask of op codes (PauseOps.bit(op) | ...).
    /// @param duration Seconds from now.
    function pause(uint256 market, uint32 ops, uint256 duration) external onlyGuardian {
        if (ops == 0) revert InvalidOps(ops);
        Scope memory s = _scopes[market];
        _beforePause(market, ops, s);
        bool live = s.ops != 0 && s.pausedUntil > block.timestamp;
        if (!live) s.ops = 0;
        uint256 until = block.timestamp + duration;
        if (msg.sender == governance) {
            uint256 maxUntil = block.timestamp + MAX_GOVERNANCE_PAUSE;
            if (duration == 0 || until > maxUntil) revert PauseOutOfBounds(market, until, maxUntil);
            s.guardianWindowEnds = 0;
        } else {
            if (ops & _exitOps() != 0) revert ExitNotPausable(ops & _exitOps());
            PauseParams memory p = _pauseParams;
            if (live) {
                if (s.guardianWindowEnds == 0) revert GovernancePauseActive(market);
                if (until < s.pausedUntil) until = s.pausedUntil; // adding ops never shortens
            } else {
                uint256 next = s.guardianNextPause;
                if (market == PauseOps.ALL_MARKETS) {
                    if (p.guardianMarketsNextPause > next) next = p.guardianMarketsNextPause;
                } else {
                    uint256 g = _scopes[PauseOps.ALL_MARKETS].guardianNextPause;
                    if (g > next) next = g;
                }
                if (block.timestamp < next) revert GuardianCooldown(market, next);
                if (_holds[market] != bytes32(0)) delete _holds[market]; // a new episode starts unheld
                s.guardianWindowEnds = uint40(block.timestamp + p.guardianMaxPause);
            }
            if (duration == 0 || until > s.guardianWindowEnds) {
                revert PauseOutOfBounds(market, until, s.guardianWindowEnds);
            }
            _setGuardianNext(s, market, until + p.guardianCooldown);
        }
        s.ops |= ops;
        // forge-lint: disable-next-line(unsafe-typecast)
        s.pausedUntil = uint40(until);
        _scopes[market] = s;
        _noteSummary(ops, until);
        emit Paused(market, ops, until, msg.sender);
    }

    /// @notice Extend the live pause of `market` to `until`.
    /// @dev Guardian: only its own episode, up to the episode's window end. Governance: any live pause,
    ///      up to now + MAX_GOVERNANCE_PAUSE; the pause becomes governance's.
    /// @param market Market id or ALL_MARKETS.
    /// @param until New end, later than the current one.
    function extendPause(uint256 market, uint256 until) external onlyGuardian {
        Scope memory s = _scopes[market];
        if (s.ops == 0 || s.pausedUntil <= block.timestamp) revert NotPaused(market);
        uint256 maxUntil;
        if (msg.sender == governance) {
            maxUntil = block.timestamp + MAX_GOVERNANCE_PAUSE;
            s.guardianWindowEnds = 0;
        } else {
            if (s.guardianWindowEnds == 0) revert GovernancePauseActive(market);
            maxUntil = s.guardianWindowEnds;
        }
        if (until <= s.pausedUntil || until > maxUntil) revert PauseOutOfBounds(market, until, maxUntil);
        if (s.guardianWindowEnds != 0) _setGuardianNext(s, market, until + _pauseParams.guardianCooldown);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.pausedUntil = uint40(until);
        _scopes[market] = s;
        _noteSummary(s.ops, until);
        emit PauseExtended(market, until, msg.sender);
    }

    /// @notice Unpause `ops` of `market` now. When no op remains, the pause ends now (the liquidation
    ///         grace starts). Governance: any pause. Guardian: only its own episode (the cooldown still
    ///         runs from now, so unpausing never lets it pause again sooner).
    /// @param market Market id or ALL_MARKETS.
    /// @param ops Mask of ops to unpause.
    function unpause(uint256 market, uint32 ops) external onlyGuardian {
        Scope memory s = _scopes[market];
        if (s.ops & ops == 0 || s.pausedUntil <= block.timestamp) revert NotPaused(market);
        if (msg.sender != governance && s.guardianWindowEnds == 0) revert GovernancePauseActive(market);
        s.ops &= ~ops;
        if (s.ops == 0) {
            s.pausedUntil = uint40(block.timestamp);
            if (s.guardianWindowEnds != 0) {
                s.guardianWindowEnds = 0;
                uint256 next = block.timestamp + _pauseParams.guardianCooldown;
                // forge-lint: disable-next-line(unsafe-typecast)
                if (next < s.guardianNextPause) s.guardianNextPause = uint40(next);
            }
        }
        _scopes[market] = s;
        emit Unpaused(market, ops, s.ops, msg.sender);
    }

    /// @notice Set the timing parameters. Governance only.
    /// @param guardianMaxPause_ In [MIN_GUARDIAN_PAUSE, MAX_GUARDIAN_PAUSE].
    /// @param guardianCooldown_ In [MIN_GUARDIAN_COOLDOWN, MAX_GUARDIAN_COOLDOWN].
    /// @param liquidationGrace_ In [0, MAX_LIQUIDATION_GRACE].
    function setPauseParams(uint256 guardianMaxPause_, uint256 guardianCooldown_, uint256 liquidationGrace_)
        external
        onlyGovernance
    {
        _setPauseParams(guardianMaxPause_, guardianCooldown_, liquidationGrace_);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice Whether `op` is paused in `market` (its own scope or ALL_MARKETS) now.
    function isPaused(uint8 op, uint256 market) public view returns (bool) {
        if (_live(_scopes[market], op)) return true;
        return market != PauseOps.ALL_MARKETS && _live(_scopes[PauseOps.ALL_MARKETS], op);
    }

    /// @notice Raw state of one scope.
    function scopeOf(uint256 market) external view returns (Scope memory) {
        return _scopes[market];
    }

    /// @notice Current timing parameters.
    function pauseParams()
        external
        view
        returns (uint256 guardianMaxPause, uint256 guardianCooldown, uint256 liquidationGrace)
    {
        PauseParams memory p = _pauseParams;
        return (p.guardianMaxPause, p.guardianCooldown, p.liquidationGrace);
    }

    /// @notice End of the liquidation grace of `market`: the latest end of a pause of the market (or of
    ///         ALL_MARKETS) plus `liquidationGrace`; 0 if neither was ever paused. While
    ///         `block.timestamp < liquidationGraceEnds(market)` the market is paused or has just been, and
    ///         the protocol may refuse to liquidate positions that became unsafe meanwhile.
    function liquidationGraceEnds(uint256 market) external view returns (uint256) {
        uint256 end = _scopes[market].pausedUntil;
        if (market != PauseOps.ALL_MARKETS) {
            uint256 g = _scopes[PauseOps.ALL_MARKETS].pausedUntil;
            if (g > end) end = g;
        }
        return end == 0 ? 0 : end + _pauseParams.liquidationGrace;
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    /// @dev Keep the live guardian episode of `market` paused until at least `until` (which the caller
    ///      bounds); the guardian's cooldown then runs from the new end. Returns the pause's end.
    function _holdEpisode(uint256 market, uint256 until) internal returns (uint256) {
        Scope memory s = _scopes[market];
        if (s.ops == 0 || s.pausedUntil <= block.timestamp) revert NotPaused(market);
        if (s.guardianWindowEnds == 0) revert GovernancePauseActive(market);
        if (until > s.pausedUntil) {
            // forge-lint: disable-next-line(unsafe-typecast)
            s.pausedUntil = uint40(until);
            _setGuardianNext(s, market, until + _pauseParams.guardianCooldown);
            _scopes[market] = s;
            _noteSummary(s.ops, until);
        }
        return s.pausedUntil;
    }

    /// @dev End the live guardian episode of `market` now, as `unpause` would (the cooldown runs from
    ///      now); a governance pause is left alone. Returns whether a pause ended.
    function _endHeldEpisode(uint256 market) internal returns (bool) {
        Scope memory s = _scopes[market];
        if (s.guardianWindowEnds == 0 || s.pausedUntil <= block.timestamp) return false;
        // forge-lint: disable-next-line(unsafe-typecast)
        s.pausedUntil = uint40(block.timestamp);
        s.guardianWindowEnds = 0;
        uint256 next = block.timestamp + _pauseParams.guardianCooldown;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (next < s.guardianNextPause) s.guardianNextPause = uint40(next);
        _scopes[market] = s;
        return true;
    }

    function _live(Scope memory s, uint8 op) private view returns (bool) {
        return (s.ops >> op) & 1 != 0 && s.pausedUntil > block.timestamp;
    }

    function _setGuardianNext(Scope memory s, uint256 market, uint256 next) private {
        // Times are now + bounded durations: 40 bits last for 34,000 years.
        // forge-lint: disable-next-line(unsafe-typecast)
        s.guardianNextPause = uint40(next);
        if (market != PauseOps.ALL_MARKETS && next > _pauseParams.guardianMarketsNextPause) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _pauseParams.guardianMarketsNextPause = uint40(next);
        }
    }

    /// @dev Widen the summary; once everything in it has ended, start afresh so stale ops drop out.
    function _noteSummary(uint32 ops, uint256 until) private {
        uint256 s = _pauseSummary;
        uint256 end = s >> 32;
        uint256 mask = end <= block.timestamp ? ops : (s & 0xffffffff) | ops;
        if (until > end) end = until;
        _pauseSummary = (end << 32) | mask;
    }

    function _setPauseParams(uint256 maxPause, uint256 cooldown, uint256 grace) private {
        if (maxPause < MIN_GUARDIAN_PAUSE || maxPause > MAX_GUARDIAN_PAUSE) {
            revert InvalidPauseParam("guardianMaxPause", maxPause);
        }
        if (cooldown < MIN_GUARDIAN_COOLDOWN || cooldown > MAX_GUARDIAN_COOLDOWN) {
            revert InvalidPauseParam("guardianCooldown", cooldown);
        }
        if (grace > MAX_LIQUIDATION_GRACE) revert InvalidPauseParam("liquidationGrace", grace);
        PauseParams storage p = _pauseParams;
        // Checked above: all three are at most 30 days.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.guardianMaxPause = uint32(maxPause);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.guardianCooldown = uint32(cooldown);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.liquidationGrace = uint32(grace);
        emit PauseParamsUpdated(maxPause, cooldown, grace);
    }
}
