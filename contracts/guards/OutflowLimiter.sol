// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {GuardAccess} from "./GuardAccess.sol";

/// @title OutflowLimiter
/// @notice Bastion's circuit breaker: a per-asset limit on NET outflow over a rolling window, expressed
///         as a fraction of the asset's tracked liquidity with an absolute floor ("at most 10% of TVL per
///         6 h, never less than X tokens"). A protocol inherits it and calls `_onTokenInflow` /
///         `_onTokenOutflow` on its own deposit and withdrawal paths: no external call, constant gas.
/// @dev Model: a token bucket whose level `h` (the headroom, in asset units) is what may leave now.
///      - Limit: `L = max(floor, liquidity * limitBps / 10_000, 1)`, from the liquidity tracked before the
///        operation.
///      - Time: `h` moves toward `L` at `L / window` per second (refills when below, decays when above).
///      - Outflow `a`: allowed iff `a <= h`; then `h -= a`.
///      - Inflow `d`: `h = min(h + d, L + credit)` with `credit = L >> creditShift` (none for shift 3):
///        inflows earn credit, bounded, and the credit decays at the same rate. A deposit never raises the
///        headroom by more than the deposit nor above `L + credit` computed on the liquidity BEFORE it, so a
///        flash deposit+withdraw nets to zero and a large deposit only raises the limit gradually (the
///        higher `L` phases in through the refill). New liquidity is protected from its first block.
///      - Bound (see docs/guards/outflow-limiter.md): over any interval of length T, net outflow is at most
///        `h(start) + Lmax * T / window`, so at most `2 * Lmax` (+ credit carried in) in any one window, where
///        an exact rolling window would allow `Lmax`. Rounding always favours the protocol.
///      Storage: one asset's whole hot state AND its hot parameters live in ONE slot (`_flow[asset]`):
///        [0,96) liquidity | [96,128) headroom as a Q1.31 fraction of L | [128,160) last update (s)
///        [160,174) limitBps | [174,198) window (s) | [198,246) floor mantissa | [246,252) floor exponent
///        [252,254) creditShift | 254 DELAYED mode | 255 SLOW (a trip or a claim backlog exists).
///      Storing the headroom relative to L lets the refill run without knowing L and fits 32 bits; the
///      liquidity field doubles as the protocol's own `totalAssets` counter, so a guarded vault writes the
///      same single slot a plain vault writes for its counter.
abstract contract OutflowLimiter is GuardAccess {
    /// @notice What happens to an outflow above the headroom.
    /// @dev REVERT: that outflow reverts (nothing persists, so no trip is recorded).
    ///      DELAYED: the asset trips; that outflow and every later one become per-recipient claims, paid
    ///      in FIFO order once the trip has cleared, as headroom allows.
    enum Mode {
        REVERT,
        DELAYED
    }

    /// @notice Governance input for one asset.
    /// @param limitBps Share of tracked liquidity that may leave per window, in [1, 10_000] bps.
    /// @param window Refill time of the bucket, in [MIN_WINDOW, MAX_WINDOW] seconds.
    /// @param floor Absolute minimum limit in asset base units (stored rounded down to 48 significant bits).
    /// @param cooldown Length of a trip, in [MIN_COOLDOWN, MAX_COOLDOWN] seconds.
    /// @param mode REVERT or DELAYED.
    /// @param creditShift Inflow credit cap: 0 = L, 1 = L/2, 2 = L/4, 3 = no credit.
    struct AssetConfig {
        uint16 limitBps;
        uint32 window;
        uint256 floor;
        uint32 cooldown;
        Mode mode;
        uint8 creditShift;
    }

    /// @dev Cold per-asset state: the trip and its bounds.
    struct Trip {
        uint32 cooldown; // trip length set by governance
        uint32 until; // trip end (0 = not tripped)
        uint32 guardianCap; // latest end the guardian may extend the current trip to
    }

    /// @dev FIFO claim queue of one asset, in cumulative amounts (positions).
    struct Queue {
        uint128 queued; // total ever queued
        uint128 released; // total released (payable); claims with position <= released are payable
    }

    /// @dev One recipient's claim on one asset; adding to a claim moves all of it to the back.
    struct Claim {
        uint128 amount;
        uint128 position; // `Queue.queued` right after this claim's last addition
    }

    uint256 public constant MIN_WINDOW = 5 minutes;
    uint256 public constant MAX_WINDOW = 30 days;
    uint256 public constant MIN_COOLDOWN = 5 minutes;
    uint256 public constant MAX_COOLDOWN = 7 days;
    /// @notice Total time the guardian may add to one trip.
    uint256 public constant GUARDIAN_MAX_EXTENSION = 24 hours;
    /// @notice Furthest ahead governance may set a trip's end in one call.
    uint256 public constant MAX_TRIP_EXTENSION = 30 days;
    /// @notice Largest liquidity (and floor) the 96-bit field holds: 7.9e28 base units.
    uint256 public constant MAX_AMOUNT = (1 << 96) - 1;

    uint256 private constant BPS = 10_000;
    uint256 private constant ONE = 1 << 31; // headroom fraction 1.0 (h == L)
    uint256 private constant FRAC_MAX = (1 << 32) - 1; // just under 2.0
    uint256 private constant M96 = (1 << 96) - 1;
    uint256 private constant M32 = (1 << 32) - 1;
    uint256 private constant OFF_FRAC = 96;
    uint256 private constant OFF_TS = 128;
    uint256 private constant OFF_BPS = 160;
    uint256 private constant OFF_WIN = 174;
    uint256 private constant OFF_FLOOR_M = 198;
    uint256 private constant OFF_FLOOR_E = 246;
    uint256 private constant OFF_CREDIT = 252;
    uint256 private constant DELAYED_BIT = 1 << 254;
    uint256 private constant SLOW_BIT = 1 << 255;
    /// @dev Everything above the timestamp: parameters and flags, carried unchanged by the hot paths.
    uint256 private constant PARAMS_MASK = type(uint256).max << 160;

    mapping(address asset => uint256) private _flow;
    mapping(address asset => Trip) private _trips;
    mapping(address asset => Queue) private _queues;
    mapping(address asset => mapping(address recipient => Claim)) private _claims;

    /// @notice An asset was registered with these parameters (floor as stored).
    event AssetRegistered(
        address indexed asset,
        uint256 limitBps,
        uint256 window,
        uint256 floor,
        uint256 cooldown,
        Mode mode,
        uint256 creditShift,
        uint256 liquidity
    );
    /// @notice Governance changed an asset's parameters (floor as stored).
    event AssetParamsUpdated(
        address indexed asset,
        uint256 limitBps,
        uint256 window,
        uint256 floor,
        uint256 cooldown,
        Mode mode,
        uint256 creditShift
    );
    /// @notice An outflow above the headroom tripped the asset (DELAYED mode) until `until`.
    event AssetRateLimitBreached(address indexed asset, uint256 amount, uint256 headroom, uint256 until);
    /// @notice A trip was extended to `until` by `by`.
    event RateLimitExtended(address indexed asset, uint256 until, address indexed by);
    /// @notice A trip ended: `by` is governance for an early clear, zero for expiry (reported lazily).
    event RateLimitCleared(address indexed asset, address indexed by);
    /// @notice An outflow became a claim of `recipient`, payable once `released` reaches `position`.
    event FundsLocked(address indexed asset, address indexed recipient, uint256 amount, uint256 position);
    /// @notice `amount` of queued claims became payable; `releasedTotal` is the new FIFO cursor.
    event LockedFundsReleased(address indexed asset, uint256 amount, uint256 releasedTotal);
    /// @notice A claim was paid out.
    event LockedFundsClaimed(address indexed asset, address indexed recipient, uint256 amount);

    /// @notice The asset has no limiter configuration.
    error AssetNotRegistered(address asset);
    /// @notice The asset is already registered.
    error AssetAlreadyRegistered(address asset);
    /// @notice A parameter is outside its bounds; `which` names it.
    error InvalidLimiterParam(bytes32 which, uint256 value);
    /// @notice REVERT mode: the outflow exceeds the headroom (or waits behind queued claims).
    error RateLimited(address asset, uint256 amount, uint256 headroom);
    /// @notice REVERT mode: the asset is tripped until `until`.
    error RateLimitActive(address asset, uint256 until);
    /// @notice The outflow exceeds the tracked liquidity (integrator accounting error).
    error LiquidityUnderflow(address asset, uint256 amount, uint256 liquidity);
    /// @notice The inflow would push tracked liquidity past MAX_AMOUNT.
    error LiquidityOverflow(address asset, uint256 amount, uint256 liquidity);
    /// @notice The asset is not tripped, so there is nothing to extend or clear.
    error NotTripped(address asset);
    /// @notice The requested trip end is not later than the current one or beyond the caller's bound.
    error ExtensionOutOfBounds(address asset, uint256 until, uint256 maxUntil);
    /// @notice The recipient has no claim on this asset.
    error NoLockedFunds(address asset, address recipient);
    /// @notice The claim waits in the queue: payable once `released` reaches `position`.
    error ClaimNotReady(address asset, address recipient, uint256 position, uint256 released);

    // ------------------------------------------------------------------------------------------------
    // Hot path (internal API the protocol calls)
    // ------------------------------------------------------------------------------------------------

    /// @notice Record an inflow of `amount` of `asset` (call after receiving it). Never blocked.
    /// @dev Constant gas: one SLOAD and one SSTORE of the asset's slot, no event.
    function _onTokenInflow(address asset, uint256 amount) internal {
        bool bad;
        // Hand-written for constant, minimal gas; same math as `_refill`, `_limit` and `_pack`
        // (the unit tests hold both to a reference model).
        assembly ("memory-safe") {
            mstore(0x00, asset)
            mstore(0x20, _flow.slot)
            let slot := keccak256(0x00, 0x40)
            let w := sload(slot)
            let bps := and(shr(160, w), 0x3fff)
            let liq := and(w, 0xffffffffffffffffffffffff)
            let frac := and(shr(96, w), 0xffffffff)
            // Refill (or decay credit) toward 1.0 = 2^31 at 2^31 / window per second, rounding down.
            if iszero(eq(frac, 0x80000000)) {
                let step := div(shl(31, and(sub(timestamp(), shr(128, w)), 0xffffffff)), and(shr(174, w), 0xffffff))
                switch lt(frac, 0x80000000)
                case 1 {
                    frac := add(frac, step)
                    if gt(frac, 0x80000000) { frac := 0x80000000 }
                }
                default {
                    let excess := sub(frac, 0x80000000)
                    frac := 0x80000000
                    if gt(excess, step) { frac := add(frac, sub(excess, step)) }
                }
            }
            // L = max(floor, liq * bps / 10_000, 1), before the inflow.
            let fl := shl(and(shr(246, w), 63), and(shr(198, w), 0xffffffffffff))
            let lim := div(mul(liq, bps), 10000)
            if lt(lim, fl) { lim := fl }
            if iszero(lim) { lim := 1 }
            // h = min(h + amount, L + credit), never lowered.
            let h := shr(31, mul(frac, lim))
            let sh := and(shr(252, w), 3)
            let cap := add(lim, mul(lt(sh, 3), shr(sh, lim)))
            let liq2 := add(liq, amount)
            bad := or(iszero(bps), or(gt(amount, 0xffffffffffffffffffffffff), gt(liq2, 0xffffffffffffffffffffffff)))
            if lt(h, cap) {
                h := add(h, amount)
                if gt(h, cap) { h := cap }
            }
            // Re-express h against the new limit, rounding down.
            lim := div(mul(liq2, bps), 10000)
            if lt(lim, fl) { lim := fl }
            if iszero(lim) { lim := 1 }
            frac := div(shl(31, h), lim)
            if gt(frac, 0xffffffff) { frac := 0xffffffff }
            sstore(
                slot,
                or(
                    or(and(w, not(0xffffffffffffffffffffffffffffffffffffffff)), shl(128, and(timestamp(), 0xffffffff))),
                    or(shl(96, frac), liq2)
                )
            )
        }
        if (bad) {
            if ((_flow[asset] >> OFF_BPS) & 0x3fff == 0) revert AssetNotRegistered(asset);
            revert LiquidityOverflow(asset, amount, _flow[asset] & M96);
        }
    }

    /// @notice Record an outflow of `amount` of `asset` to `recipient` BEFORE paying it.
    /// @return payNow True: pay now. False (DELAYED mode only): the amount became `recipient`'s claim,
    ///         to be paid through `claimLockedFunds`; do not transfer it now.
    /// @dev Reverts `RateLimited`/`RateLimitActive` in REVERT mode when the headroom is exceeded.
    ///      Constant gas when not tripped and within headroom (one SLOAD, one SSTORE, no event).
    function _onTokenOutflow(address asset, address recipient, uint256 amount) internal returns (bool payNow) {
        uint256 w;
        uint256 liq;
        uint256 h;
        assembly ("memory-safe") {
            mstore(0x00, asset)
            mstore(0x20, _flow.slot)
            let slot := keccak256(0x00, 0x40)
            w := sload(slot)
            let bps := and(shr(160, w), 0x3fff)
            liq := and(w, 0xffffffffffffffffffffffff)
            let frac := and(shr(96, w), 0xffffffff)
            if iszero(eq(frac, 0x80000000)) {
                let step := div(shl(31, and(sub(timestamp(), shr(128, w)), 0xffffffff)), and(shr(174, w), 0xffffff))
                switch lt(frac, 0x80000000)
                case 1 {
                    frac := add(frac, step)
                    if gt(frac, 0x80000000) { frac := 0x80000000 }
                }
                default {
                    let excess := sub(frac, 0x80000000)
                    frac := 0x80000000
                    if gt(excess, step) { frac := add(frac, sub(excess, step)) }
                }
            }
            let fl := shl(and(shr(246, w), 63), and(shr(198, w), 0xffffffffffff))
            let lim := div(mul(liq, bps), 10000)
            if lt(lim, fl) { lim := fl }
            if iszero(lim) { lim := 1 }
            h := shr(31, mul(frac, lim))
            // Fast path: registered, not SLOW, within headroom and liquidity.
            if iszero(or(or(iszero(bps), shr(255, w)), or(gt(amount, h), gt(amount, liq)))) {
                let liq2 := sub(liq, amount)
                lim := div(mul(liq2, bps), 10000)
                if lt(lim, fl) { lim := fl }
                if iszero(lim) { lim := 1 }
                frac := div(shl(31, sub(h, amount)), lim)
                if gt(frac, 0xffffffff) { frac := 0xffffffff }
                sstore(
                    slot,
                    or(
                        or(
                            and(w, not(0xffffffffffffffffffffffffffffffffffffffff)),
                            shl(128, and(timestamp(), 0xffffffff))
                        ),
                        or(shl(96, frac), liq2)
                    )
                )
                payNow := 1
            }
        }
        if (payNow) return true;
        if ((w >> OFF_BPS) & 0x3fff == 0) revert AssetNotRegistered(asset);
        return _outflowSlow(asset, recipient, amount, w, liq, h);
    }

    /// @notice Pay a released claim: the protocol transfers `amount` of `asset` to `recipient`.
    /// @dev Called by `claimLockedFunds` after the claim is deleted (checks-effects-interactions).
    function _payLockedFunds(address asset, address recipient, uint256 amount) internal virtual;

    /// @notice Liquidity tracked for `asset`, claims not yet released included.
    function _trackedLiquidity(address asset) internal view returns (uint256) {
        return _flow[asset] & M96;
    }

    /// @notice Register `asset` from inside the protocol (e.g. its constructor) with known liquidity.
    function _registerAsset(address asset, AssetConfig memory cfg, uint256 liquidity) internal {
        if ((_flow[asset] >> OFF_BPS) & 0x3fff != 0) revert AssetAlreadyRegistered(asset);
        if (liquidity > MAX_AMOUNT) revert InvalidLimiterParam("liquidity", liquidity);
        uint256 params = _encodeParams(cfg);
        _trips[asset].cooldown = uint32(cfg.cooldown);
        uint256 w = params | liquidity;
        // Start with a full bucket: the limit is available at once, no credit.
        _flow[asset] = _pack(w, liquidity, _limit(w, liquidity, cfg.limitBps), cfg.limitBps);
        emit AssetRegistered(
            asset,
            cfg.limitBps,
            cfg.window,
            _decodeFloor(params),
            cfg.cooldown,
            cfg.mode,
            cfg.creditShift,
            liquidity
        );
    }

    /// @notice Liquidity a newly registered asset starts with; override to read the protocol's books.
    function _initialLiquidity(address) internal view virtual returns (uint256) {
        return 0;
    }

    // ------------------------------------------------------------------------------------------------
    // Governance and guardian
    // ------------------------------------------------------------------------------------------------

    /// @notice Register an asset (ERC-7265 name). Governance only.
    /// @param asset The token (or any key, e.g. address(0) for the native asset).
    /// @param cfg Parameters, each checked against its bounds.
    function registerAsset(address asset, AssetConfig calldata cfg) external onlyGovernance {
        _registerAsset(asset, cfg, _initialLiquidity(asset));
    }

    /// @notice Change an asset's parameters (ERC-7265 name). Governance only.
    /// @dev Settles the bucket under the old parameters first; the headroom keeps its amount, capped at
    ///      the new limit plus credit, so a loosening phases in through the refill and a tightening bites
    ///      at once.
    /// @param asset A registered asset.
    /// @param cfg New parameters, each checked against its bounds.
    function updateAssetParams(address asset, AssetConfig calldata cfg) external onlyGovernance {
        (uint256 w, uint256 liq, uint256 h) = _settled(asset);
        uint256 params = _encodeParams(cfg);
        w = (w & (SLOW_BIT | M96)) | params;
        uint256 lim = _limit(w, liq, cfg.limitBps);
        uint256 cap = lim + (cfg.creditShift == 3 ? 0 : lim >> cfg.creditShift);
        if (h > cap) h = cap;
        _flow[asset] = _pack(w, liq, h, cfg.limitBps);
        _trips[asset].cooldown = uint32(cfg.cooldown);
        emit AssetParamsUpdated(
            asset, cfg.limitBps, cfg.window, _decodeFloor(params), cfg.cooldown, cfg.mode, cfg.creditShift
        );
    }

    /// @notice Clear a trip early (ERC-7265's overrideRateLimit, scoped to one asset). Governance only.
    /// @dev Queued claims are then released in FIFO order as headroom allows.
    /// @param asset A tripped asset.
    function overrideRateLimit(address asset) external onlyGovernance {
        Trip storage t = _trips[asset];
        if (t.until <= block.timestamp) revert NotTripped(asset);
        t.until = 0;
        t.guardianCap = 0;
        emit RateLimitCleared(asset, msg.sender);
    }

    /// @notice Extend a live trip to `until`. The guardian may add at most GUARDIAN_MAX_EXTENSION in total
    ///         per trip; governance may set up to MAX_TRIP_EXTENSION ahead per call.
    /// @param asset A tripped asset.
    /// @param until New trip end, later than the current one.
    function extendRateLimit(address asset, uint256 until) external onlyGuardian {
        Trip storage t = _trips[asset];
        uint256 cur = t.until;
        if (cur <= block.timestamp) revert NotTripped(asset);
        uint256 maxUntil = msg.sender == governance ? block.timestamp + MAX_TRIP_EXTENSION : t.guardianCap;
        if (until <= cur || until > maxUntil) revert ExtensionOutOfBounds(asset, until, maxUntil);
        // forge-lint: disable-next-line(unsafe-typecast)
        t.until = uint32(until);
        emit RateLimitExtended(asset, until, msg.sender);
    }

    // ------------------------------------------------------------------------------------------------
    // Claims (delayed settlement)
    // ------------------------------------------------------------------------------------------------

    /// @notice Pay `recipient`'s claim on `asset` once released (ERC-7265 name). Anyone may call; the
    ///         funds only ever go to `recipient`.
    /// @dev First clears an expired trip and releases queued claims in FIFO order as headroom allows.
    /// @return amount The amount paid.
    function claimLockedFunds(address asset, address recipient) external returns (uint256 amount) {
        Claim memory c = _claims[asset][recipient];
        if (c.amount == 0) revert NoLockedFunds(asset, recipient);
        _settleAndStore(asset);
        uint256 released = _queues[asset].released;
        if (released < c.position) revert ClaimNotReady(asset, recipient, c.position, released);
        delete _claims[asset][recipient];
        amount = c.amount;
        emit LockedFundsClaimed(asset, recipient, amount);
        _payLockedFunds(asset, recipient, amount);
    }

    /// @notice Clear an expired trip and release queued claims as headroom allows. Anyone may call.
    function releaseLockedFunds(address asset) external {
        _settleAndStore(asset);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice Whether `asset` is tripped now (ERC-7265 name). Scoped to this asset and to outflows.
    function isRateLimitTriggered(address asset) public view returns (bool) {
        return _trips[asset].until > block.timestamp;
    }

    /// @notice What may leave now without queueing or reverting: 0 while tripped, and queued claims
    ///         are served first.
    function headroom(address asset) external view returns (uint256) {
        if (isRateLimitTriggered(asset)) return 0;
        (, , uint256 h) = _current(asset);
        Queue memory q = _queues[asset];
        uint256 backlog = q.queued - q.released;
        return h > backlog ? h - backlog : 0;
    }

    /// @notice Current limit `L` of `asset` (the bucket's full level).
    function currentLimit(address asset) external view returns (uint256) {
        uint256 w = _flow[asset];
        uint256 bps = (w >> OFF_BPS) & 0x3fff;
        if (bps == 0) revert AssetNotRegistered(asset);
        return _limit(w, w & M96, bps);
    }

    /// @notice Tracked liquidity of `asset` (includes claims not yet released).
    function trackedLiquidity(address asset) external view returns (uint256) {
        return _flow[asset] & M96;
    }

    /// @notice Parameters of `asset` as stored (floor rounded down to 48 significant bits).
    function assetConfig(address asset) external view returns (AssetConfig memory cfg) {
        uint256 w = _flow[asset];
        cfg.limitBps = uint16((w >> OFF_BPS) & 0x3fff);
        cfg.window = uint32((w >> OFF_WIN) & 0xffffff);
        cfg.floor = _decodeFloor(w);
        cfg.cooldown = _trips[asset].cooldown;
        cfg.mode = w & DELAYED_BIT != 0 ? Mode.DELAYED : Mode.REVERT;
        cfg.creditShift = uint8((w >> OFF_CREDIT) & 3);
    }

    /// @notice Trip state of `asset`: end (0 if none or expired-not-yet-reported) and guardian bound.
    function tripInfo(address asset) external view returns (uint256 until, uint256 guardianCap) {
        Trip memory t = _trips[asset];
        return (t.until, t.guardianCap);
    }

    /// @notice FIFO queue cursors of `asset`: total ever queued and total released.
    function queueInfo(address asset) external view returns (uint256 queued, uint256 released) {
        Queue memory q = _queues[asset];
        return (q.queued, q.released);
    }

    /// @notice Claim of `recipient` on `asset` (ERC-7265 argument order).
    function lockedFunds(address recipient, address asset) external view returns (uint256) {
        return _claims[asset][recipient].amount;
    }

    /// @notice Claim of `recipient` on `asset` and its FIFO position.
    function claimInfo(address asset, address recipient) external view returns (uint256 amount, uint256 position) {
        Claim memory c = _claims[asset][recipient];
        return (c.amount, c.position);
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    /// @dev Headroom fraction after refilling (or decaying credit) toward 1.0 since the last update.
    function _refill(uint256 w) private view returns (uint256 frac) {
        frac = (w >> OFF_FRAC) & M32;
        if (frac == ONE) return frac;
        unchecked {
            // dt < 2^32 and window >= 300: the step fits easily; rounding down slows the refill.
            uint256 dt = (block.timestamp - (w >> OFF_TS)) & M32; // wraps correctly past 2106
            uint256 step = (dt << 31) / ((w >> OFF_WIN) & 0xffffff);
            if (frac < ONE) {
                frac = ONE - frac > step ? frac + step : ONE;
            } else {
                frac = frac - ONE > step ? frac - step : ONE;
            }
        }
    }

    /// @dev L = max(floor, liq * bps / 10_000, 1).
    function _limit(uint256 w, uint256 liq, uint256 bps) private pure returns (uint256 lim) {
        unchecked {
            lim = (liq * bps) / BPS;
            uint256 fl = ((w >> OFF_FLOOR_M) & 0xffffffffffff) << ((w >> OFF_FLOOR_E) & 63);
            if (fl > lim) lim = fl;
            if (lim == 0) lim = 1;
        }
    }

    /// @dev Re-encode a word with new liquidity and headroom (rounded down), stamped now.
    function _pack(uint256 w, uint256 liq, uint256 h, uint256 bps) private view returns (uint256) {
        unchecked {
            uint256 frac = (h << 31) / _limit(w, liq, bps);
            if (frac > FRAC_MAX) frac = FRAC_MAX;
            return (w & PARAMS_MASK) | ((block.timestamp & M32) << OFF_TS) | (frac << OFF_FRAC) | liq;
        }
    }

    /// @dev Word, liquidity and headroom of `asset` as of now, without side effects.
    function _current(address asset) private view returns (uint256 w, uint256 liq, uint256 h) {
        w = _flow[asset];
        uint256 bps = (w >> OFF_BPS) & 0x3fff;
        if (bps == 0) revert AssetNotRegistered(asset);
        liq = w & M96;
        h = (_refill(w) * _limit(w, liq, bps)) >> 31;
    }

    /// @dev Current state after reporting an expired trip and releasing queued claims with the headroom.
    ///      Updates the trip and the queue; the caller must store the returned word state.
    function _settled(address asset) private returns (uint256 w, uint256 liq, uint256 h) {
        (w, liq, h) = _current(asset);
        if (w & SLOW_BIT == 0) return (w, liq, h);
        Trip storage t = _trips[asset];
        uint256 until = t.until;
        if (until != 0 && until <= block.timestamp) {
            t.until = 0;
            t.guardianCap = 0;
            until = 0;
            emit RateLimitCleared(asset, address(0));
        }
        if (until != 0) return (w, liq, h);
        Queue storage q = _queues[asset];
        uint256 released = q.released;
        uint256 backlog = q.queued - released;
        uint256 rel = backlog < h ? backlog : h;
        if (rel != 0) {
            // Queued claims are still counted in `liq`; releasing them is the outflow.
            released += rel;
            // forge-lint: disable-next-line(unsafe-typecast)
            q.released = uint128(released);
            h -= rel;
            liq -= rel;
            emit LockedFundsReleased(asset, rel, released);
        }
        if (rel == backlog) w &= ~SLOW_BIT;
    }

    function _settleAndStore(address asset) private {
        (uint256 w, uint256 liq, uint256 h) = _settled(asset);
        _flow[asset] = _pack(w, liq, h, (w >> OFF_BPS) & 0x3fff);
    }

    /// @dev Outflow when tripped, with a backlog, or above the headroom.
    function _outflowSlow(address asset, address recipient, uint256 amount, uint256 w, uint256 liq, uint256 h)
        private
        returns (bool)
    {
        if (w & SLOW_BIT != 0) (w, liq, h) = _settled(asset);
        bool delayed = w & DELAYED_BIT != 0;
        Trip storage t = _trips[asset];
        if (w & SLOW_BIT == 0) {
            // Not tripped and no backlog.
            if (amount <= h) {
                if (amount > liq) revert LiquidityUnderflow(asset, amount, liq);
                _flow[asset] = _pack(w, liq - amount, h - amount, (w >> OFF_BPS) & 0x3fff);
                return true;
            }
            if (!delayed) revert RateLimited(asset, amount, h);
            uint256 until = block.timestamp + t.cooldown;
            // Bounded: now + 7 days + 24 h fits 32 bits until 2106.
            // forge-lint: disable-next-line(unsafe-typecast)
            t.until = uint32(until);
            // forge-lint: disable-next-line(unsafe-typecast)
            t.guardianCap = uint32(until + GUARDIAN_MAX_EXTENSION);
            emit AssetRateLimitBreached(asset, amount, h, until);
        } else if (!delayed) {
            uint256 until = t.until;
            if (until != 0) revert RateLimitActive(asset, until);
            revert RateLimited(asset, amount, 0);
        }
        if (amount > liq) revert LiquidityUnderflow(asset, amount, liq);
        _flow[asset] = _pack(w | SLOW_BIT, liq, h, (w >> OFF_BPS) & 0x3fff);
        Queue storage q = _queues[asset];
        uint256 position = q.queued + amount;
        // Amounts are below 2^96 (tracked liquidity) and sums of them far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        q.queued = uint128(position);
        Claim storage c = _claims[asset][recipient];
        // forge-lint: disable-next-line(unsafe-typecast)
        c.amount += uint128(amount);
        // forge-lint: disable-next-line(unsafe-typecast)
        c.position = uint128(position);
        emit FundsLocked(asset, recipient, amount, position);
        return false;
    }

    /// @dev Check bounds and encode the parameter half of the word (bits 160..254).
    function _encodeParams(AssetConfig memory cfg) private pure returns (uint256 p) {
        if (cfg.limitBps == 0 || cfg.limitBps > BPS) revert InvalidLimiterParam("limitBps", cfg.limitBps);
        if (cfg.window < MIN_WINDOW || cfg.window > MAX_WINDOW) revert InvalidLimiterParam("window", cfg.window);
        if (cfg.cooldown < MIN_COOLDOWN || cfg.cooldown > MAX_COOLDOWN) {
            revert InvalidLimiterParam("cooldown", cfg.cooldown);
        }
        if (cfg.floor > MAX_AMOUNT) revert InvalidLimiterParam("floor", cfg.floor);
        if (cfg.creditShift > 3) revert InvalidLimiterParam("creditShift", cfg.creditShift);
        uint256 m = cfg.floor;
        uint256 e;
        while (m >> 48 != 0) {
            m >>= 1;
            ++e;
        }
        p = (uint256(cfg.limitBps) << OFF_BPS) | (uint256(cfg.window) << OFF_WIN) | (m << OFF_FLOOR_M)
            | (e << OFF_FLOOR_E) | (uint256(cfg.creditShift) << OFF_CREDIT);
        if (cfg.mode == Mode.DELAYED) p |= DELAYED_BIT;
    }

    function _decodeFloor(uint256 w) private pure returns (uint256) {
        return ((w >> OFF_FLOOR_M) & 0xffffffffffff) << ((w >> OFF_FLOOR_E) & 63);
    }
}
