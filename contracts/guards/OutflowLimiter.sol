// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "./GuardAccess.sol";

/// @title OutflowLimiter
/// @notice Bastion's circuit breaker: a per-asset limit on NET outflow over a rolling window, expressed
///         as a fraction of the asset's tracked liquidity with an absolute floor ("at most 10% of TVL per
///         6 h, never less than X tokens"). A protocol inherits it and calls `_onTokenInflow` /
///         `_onTokenOutflow` on its own deposit and withdrawal paths: no external call, constant gas.
/// @dev Model: a token bucket whose level `h` (the headroom, in asset units) is what may leave now.
///      - Limit: `L(x) = max(floor, x * limitBps / 10_000)` of a liquidity `x`; `floor >= 1`.
///      - Time: `h` moves toward `L` at `L / window` per second (refills when below, decays when above).
///      - Outflow `a`: allowed iff `a <= h`; then `h -= a`.
///      - Inflow `d`: recorded as pending, with the times of the first and last pending inflow. The next
///        settlement (any outflow, claim, `releaseLockedFunds` or parameter change) runs the bucket as if all pending
///        inflows had been credited at the FIRST one (`h = max(h, min(h + d, Lold + credit))`,
///        `credit = Lold >> creditShift`, none for shift 3; `Lold` = limit of the settled liquidity), then,
///        until the LAST one, refills at `Lold` and decays credit at the new limit, and from the last
///        one on runs at the new limit. Each choice is the most conservative of the possible arrival
///        times, so the lazy bucket never exceeds the eager one. Hence a deposit raises the headroom by at
///        most the deposit and never above `Lold + credit`, a flash deposit+withdraw never gains, and a
///        large deposit raises the limit only through the refill (phase-in over one window from its
///        block). New liquidity is protected from its first block: it counts in the liquidity, never in
///        the headroom beyond the credit.
///      - Bound (docs/guards/outflow-limiter.md): over any interval of length T, net outflow is at most
///        `h(start) + Lmax * T / window <= (Lmax + credit) + Lmax * T / window`; an exact rolling window
///        would allow `Lmax` per window. Every rounding favours the protocol: while inflows are pending,
///        the liquidity before them is known to 24 significant bits (exact below 2^24 base units), and
///        `Lold` takes the low end of its range, the pending amount the high end.
///      Storage per asset: two adjacent slots.
///        flow   (hot, written by every inflow and outflow):
///               [0,96) liquidity | [96,128) liquidity at the last settlement, a float (25-bit mantissa,
///               7-bit exponent, rounded up; only read while inflows are pending) | [128,159) headroom as a Q1.30 fraction of L(liquidity at
///               the last settlement, exact) |
///               159 SLOW (trip or claim backlog) | [160,192) last settlement | [192,224) first pending
///               inflow (0 = none) | [224,256) last inflow
///        config (read by outflows, written by governance and trips):
///               [0,96) floor | [96,112) limitBps | [112,144) window | [144,176) cooldown | [176,184) mode
///               | [184,192) creditShift | [192,224) trip end | [224,256) guardian extension cap
///      An inflow adds the amount to the liquidity and stamps the times: one SLOAD, one SSTORE, no
///      parameter. The liquidity field doubles as the protocol's own `totalAssets` counter, so a guarded
///      deposit writes the single slot a plain vault writes for its counter. An outflow reads both slots
///      (adjacent: one keccak) and writes one.
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
    /// @param floor Absolute minimum limit in asset base units, in [1, MAX_AMOUNT].
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

    /// @dev The two slots of one asset (see the contract's @dev for the bit layout).
    struct AssetSlots {
        uint256 flow;
        uint256 config;
    }

    /// @dev FIFO claim queue of one asset, in cumulative amounts (positions).
    struct Queue {
        uint128 queued; // total ever queued
        uint128 released; // total released; a claim whose position <= released is payable
    }

    /// @dev One recipient's claim on one asset; adding to a claim moves all of it to the back.
    ///      A recipient's claims are part of the tracked liquidity, so the amount fits 96 bits.
    struct Claim {
        uint96 amount;
        uint128 position; // `Queue.queued` right after this claim's last addition
        uint32 lockedAt; // time of the last addition (what an incident window is compared with)
    }

    /// @notice Shortest window (refill time) governance may set.
    uint256 public constant MIN_WINDOW = 5 minutes;
    /// @notice Longest window governance may set.
    uint256 public constant MAX_WINDOW = 30 days;
    /// @notice Shortest trip governance may set.
    uint256 public constant MIN_COOLDOWN = 5 minutes;
    /// @notice Longest trip governance may set (each trip still ends; extensions are bounded separately).
    uint256 public constant MAX_COOLDOWN = 7 days;
    /// @notice Total time the guardian may add to one trip.
    uint256 public constant GUARDIAN_MAX_EXTENSION = 24 hours;
    /// @notice Furthest ahead governance may set a trip's end in one call.
    uint256 public constant MAX_TRIP_EXTENSION = 30 days;
    /// @notice Largest liquidity (and floor) the 96-bit fields hold: 7.9e28 base units.
    uint256 public constant MAX_AMOUNT = (1 << 96) - 1;

    uint256 private constant BPS = 10_000;
    uint256 private constant M96 = (1 << 96) - 1;
    uint256 private constant M32 = (1 << 32) - 1;
    uint256 private constant M25 = (1 << 25) - 1;
    uint256 private constant ONE = 1 << 30; // headroom fraction 1.0 (h == L)
    uint256 private constant FRAC_MAX = (1 << 31) - 1; // just under 2.0
    uint256 private constant SLOW_BIT = 1 << 159;
    uint256 private constant OFF_BASE = 96;
    uint256 private constant OFF_FRAC = 128;
    uint256 private constant OFF_TS = 160;
    uint256 private constant OFF_FIRST = 192;
    uint256 private constant OFF_LAST = 224;
    uint256 private constant OFF_BPS = 96;
    uint256 private constant OFF_WIN = 112;
    uint256 private constant OFF_COOL = 144;
    uint256 private constant OFF_MODE = 176;
    uint256 private constant OFF_CREDIT = 184;
    uint256 private constant OFF_UNTIL = 192;
    uint256 private constant OFF_GCAP = 224;
    /// @dev Config bits that are parameters (the rest is the trip).
    uint256 private constant PARAMS_MASK = (1 << 192) - 1;

    mapping(address asset => AssetSlots) private _assets;
    mapping(address asset => Queue) private _queues;
    mapping(address asset => mapping(address recipient => Claim)) private _claims;
    /// @dev Voided claims: still in the FIFO arithmetic, returned to the liquidity once released.
    mapping(address asset => mapping(address recipient => Claim)) private _voided;

    /// @notice An asset was registered with these parameters.
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
    /// @notice Governance changed an asset's parameters.
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
    /// @notice An outflow became a claim of `recipient`, payable once the release cursor reaches `position`.
    event FundsLocked(address indexed asset, address indexed recipient, uint256 amount, uint256 position);
    /// @notice `amount` of queued claims became payable; `releasedTotal` is the new FIFO cursor.
    event LockedFundsReleased(address indexed asset, uint256 amount, uint256 releasedTotal);
    /// @notice A claim was paid out.
    event LockedFundsClaimed(address indexed asset, address indexed recipient, uint256 amount);
    /// @notice `recipient`'s claim of `amount` (locked at `lockedAt`) was voided by governance for the
    ///         incident whose report hashes to `reportHash`; it never pays `recipient`.
    event LockedFundsVoided(
        address indexed asset, address indexed recipient, uint256 amount, uint256 lockedAt, bytes32 indexed reportHash
    );
    /// @notice A voided claim reached the FIFO cursor and its `amount` rejoined the liquidity.
    event VoidedFundsReturned(address indexed asset, address indexed recipient, uint256 amount);

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
    /// @notice The outflow exceeds the tracked liquidity not already promised to queued claims.
    error LiquidityUnderflow(address asset, uint256 amount, uint256 liquidity);
    /// @notice The inflow would push tracked liquidity past MAX_AMOUNT.
    error LiquidityOverflow(address asset, uint256 amount, uint256 liquidity);
    /// @notice The asset is not tripped, so there is nothing to extend or clear.
    error NotTripped(address asset);
    /// @notice The requested trip end is not later than the current one or beyond the caller's bound.
    error ExtensionOutOfBounds(address asset, uint256 until, uint256 maxUntil);
    /// @notice The recipient has no claim on this asset.
    error NoLockedFunds(address asset, address recipient);
    /// @notice The voided claim has not reached the FIFO cursor yet.
    error VoidedNotReleased(address asset, address recipient, uint256 position, uint256 released);

    // ------------------------------------------------------------------------------------------------
    // Hot path (internal API the protocol calls)
    // ------------------------------------------------------------------------------------------------

    /// @notice Record an inflow of `amount` of `asset` (call after receiving it). Never blocked, even
    ///         while the asset is tripped.
    /// @dev One SLOAD, one SSTORE: `amount` joins the liquidity and the word is stamped with the time.
    function _onTokenInflow(address asset, uint256 amount) internal {
        _onTokenInflowAt(_limiterSlot(asset), asset, amount);
    }

    /// @notice `_onTokenInflow` with the asset's slot precomputed by `_limiterSlot` (e.g. kept in an
    ///         immutable by a single-asset protocol): saves the hashing, about 60 gas.
    function _onTokenInflowAt(uint256 slot, address asset, uint256 amount) internal {
        bool bad;
        assembly ("memory-safe") {
            let w := sload(slot)
            // Registered (settled at least once) and the liquidity stays below 2^96, so the add cannot
            // carry into the next field.
            bad := or(
                iszero(and(shr(160, w), 0xffffffff)),
                shr(96, or(add(and(w, 0xffffffffffffffffffffffff), amount), amount))
            )
            if iszero(bad) {
                // First pending inflow: stamp its time (the field is zero, so adding cannot carry).
                let first := mul(iszero(and(shr(192, w), 0xffffffff)), shl(192, timestamp()))
                sstore(
                    slot,
                    or(
                        and(
                            add(add(w, amount), first),
                            0x00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff
                        ),
                        shl(224, timestamp())
                    )
                )
            }
        }
        if (bad) _inflowRevert(asset, amount);
    }

    /// @notice Record an outflow of `amount` of `asset` to `recipient` BEFORE paying it.
    /// @return payNow True: pay now. False (DELAYED mode only): the amount became `recipient`'s claim,
    ///         to be paid through `claimLockedFunds`; do not transfer it now.
    /// @dev Reverts `RateLimited`/`RateLimitActive` in REVERT mode when the headroom is exceeded.
    ///      Constant gas when not tripped and within headroom: two SLOADs (adjacent slots), one SSTORE,
    ///      no event. Same math as `_settledHeadroom` and `_encodeFlow`, written out for gas; the tests
    ///      hold both to each other and to the documented model.
    function _onTokenOutflow(address asset, address recipient, uint256 amount) internal returns (bool payNow) {
        return _onTokenOutflowAt(_limiterSlot(asset), asset, recipient, amount);
    }

    /// @notice `_onTokenOutflow` with the asset's slot precomputed by `_limiterSlot`.
    /// @dev `slot` MUST be `_limiterSlot(asset)`.
    function _onTokenOutflowAt(uint256 slot, address asset, address recipient, uint256 amount)
        internal
        returns (bool payNow)
    {
        assembly ("memory-safe") {
            let w := sload(slot)
            let c := sload(add(slot, 1))
            let liq := and(w, 0xffffffffffffffffffffffff)
            let frac := and(shr(128, w), 0x7fffffff)
            let t0 := and(shr(160, w), 0xffffffff)
            let win := and(shr(112, c), 0xffffffff)
            let bps := and(shr(96, c), 0xffff)
            let fl := and(c, 0xffffffffffffffffffffffff)
            let lim := div(mul(liq, bps), 10000)
            if lt(lim, fl) { lim := fl }
            let h := 0
            let first := and(shr(192, w), 0xffffffff)
            switch first
            case 0 {
                // Nothing pending: refill (or decay credit) toward 1.0 = 2^30 at 2^30 / window per second.
                if iszero(eq(frac, 0x40000000)) {
                    let step := div(shl(30, and(sub(timestamp(), t0), 0xffffffff)), win)
                    switch lt(frac, 0x40000000)
                    case 1 {
                        frac := add(frac, step)
                        if gt(frac, 0x40000000) { frac := 0x40000000 }
                    }
                    default {
                        let excess := sub(frac, 0x40000000)
                        frac := 0x40000000
                        if gt(excess, step) { frac := add(frac, sub(excess, step)) }
                    }
                }
                h := shr(30, mul(frac, lim))
            }
            default {
                // Pending inflows. The headroom is a fraction of L(liquidity at the last settlement), which
                // lies in [base - (2^e - 1), base]: the old limit takes the low end, the pending amount the
                // high end. Run to the first inflow, credit them all there (capped at L + credit), then to
                // the last one refill at the old limit / decay credit at the new one, then run at the new
                // limit. All in amounts from the first inflow on.
                let limNew := lim
                let base := and(shr(96, w), 0xffffffff)
                let e := shr(25, base)
                base := shl(e, and(base, 0x1ffffff))
                lim := div(mul(sub(base, sub(shl(e, 1), 1)), bps), 10000)
                if lt(lim, fl) { lim := fl }
                if iszero(eq(frac, 0x40000000)) {
                    let step := div(shl(30, and(sub(first, t0), 0xffffffff)), win)
                    switch lt(frac, 0x40000000)
                    case 1 {
                        frac := add(frac, step)
                        if gt(frac, 0x40000000) { frac := 0x40000000 }
                    }
                    default {
                        let excess := sub(frac, 0x40000000)
                        frac := 0x40000000
                        if gt(excess, step) { frac := add(frac, sub(excess, step)) }
                    }
                }
                h := shr(30, mul(frac, lim))
                let sh := and(shr(184, c), 0xff)
                let cap := add(lim, mul(lt(sh, 3), shr(sh, lim)))
                if and(lt(h, cap), gt(liq, base)) {
                    h := add(h, sub(liq, base))
                    if gt(h, cap) { h := cap }
                }
                let last := shr(224, w)
                let dt := and(sub(last, first), 0xffffffff)
                if dt {
                    switch lt(h, lim)
                    case 1 {
                        h := add(h, div(mul(lim, dt), win))
                        if gt(h, lim) { h := lim }
                    }
                    default {
                        let dec := div(mul(limNew, dt), win)
                        switch gt(sub(h, lim), dec)
                        case 1 { h := sub(h, dec) }
                        default { h := lim }
                    }
                }
                lim := limNew
                let step := div(mul(lim, and(sub(timestamp(), last), 0xffffffff)), win)
                switch lt(h, lim)
                case 1 {
                    h := add(h, step)
                    if gt(h, lim) { h := lim }
                }
                default {
                    switch gt(sub(h, lim), step)
                    case 1 { h := sub(h, step) }
                    default { h := lim }
                }
            }
            // Fast path: registered (floor >= 1), not SLOW, within headroom and liquidity.
            if iszero(or(or(iszero(fl), and(shr(159, w), 1)), or(gt(amount, h), gt(amount, liq)))) {
                liq := sub(liq, amount)
                // New base = liq rounded up to a mantissa <= 2^24. Keep the stored exponent while the
                // mantissa stays in [2^23, 2^24); otherwise e = bit length of liq >> 24 (<= 72).
                let e := shr(121, w)
                e := and(e, 0x7f)
                let y := shr(e, liq)
                if or(gt(y, 0xffffff), and(lt(y, 0x800000), iszero(iszero(e)))) {
                    y := shr(24, liq)
                    e := shl(6, lt(0xffffffffffffffff, y))
                    e := or(e, shl(5, lt(0xffffffff, shr(e, y))))
                    e := or(e, shl(4, lt(0xffff, shr(e, y))))
                    e := or(e, shl(3, lt(0xff, shr(e, y))))
                    e := or(e, shl(2, lt(0xf, shr(e, y))))
                    e := or(e, shl(1, lt(0x3, shr(e, y))))
                    e := add(or(e, lt(0x1, shr(e, y))), iszero(iszero(y)))
                }
                let m := shr(e, liq)
                m := add(m, lt(shl(e, m), liq))
                lim := div(mul(liq, bps), 10000)
                if lt(lim, fl) { lim := fl }
                frac := div(shl(30, sub(h, amount)), lim)
                if gt(frac, 0x7fffffff) { frac := 0x7fffffff }
                let t := timestamp()
                sstore(slot, or(or(shl(224, t), shl(160, t)), or(or(shl(128, frac), shl(96, or(shl(25, e), m))), liq)))
                payNow := 1
            }
        }
        if (!payNow) payNow = _outflowSlow(asset, recipient, amount);
    }

    /// @notice Storage slot of `asset`'s hot word (its config is the next slot). Pure: compute it once.
    function _limiterSlot(address asset) internal pure returns (uint256 slot) {
        assembly ("memory-safe") {
            mstore(0x00, asset)
            mstore(0x20, _assets.slot)
            slot := keccak256(0x00, 0x40)
        }
    }

    /// @notice Pay a released claim: the protocol transfers `amount` of `asset` to `recipient`.
    /// @dev Called by `claimLockedFunds` after the claim is deleted (checks-effects-interactions).
    function _payLockedFunds(address asset, address recipient, uint256 amount) internal virtual;

    /// @notice Liquidity tracked for `asset`, claims not yet released included.
    function _trackedLiquidity(address asset) internal view returns (uint256) {
        return _assets[asset].flow & M96;
    }

    /// @notice Register `asset` from inside the protocol (e.g. its constructor) with known liquidity.
    /// @dev Starts with a full bucket: the limit is available at once, no credit.
    function _registerAsset(address asset, AssetConfig memory cfg, uint256 liquidity) internal {
        AssetSlots storage a = _assets[asset];
        if (a.config != 0) revert AssetAlreadyRegistered(asset);
        if (liquidity > MAX_AMOUNT) revert InvalidLimiterParam("liquidity", liquidity);
        uint256 c = _encodeParams(cfg);
        a.config = c;
        a.flow = _encodeFlow(c, liquidity, _limit(c, liquidity), false);
        emit AssetRegistered(
            asset, cfg.limitBps, cfg.window, cfg.floor, cfg.cooldown, cfg.mode, cfg.creditShift, liquidity
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
    ///      the new limit (any inflow credit is dropped), so a loosening phases in through the refill and a
    ///      tightening bites at once. A live trip keeps its end.
    /// @param asset A registered asset.
    /// @param cfg New parameters, each checked against its bounds.
    function updateAssetParams(address asset, AssetConfig calldata cfg) external onlyGovernance {
        (uint256 c, uint256 liq, uint256 h, bool slow) = _settle(asset);
        c = (c & ~PARAMS_MASK) | _encodeParams(cfg);
        uint256 lim = _limit(c, liq);
        if (h > lim) h = lim;
        AssetSlots storage a = _assets[asset];
        a.config = c;
        a.flow = _encodeFlow(c, liq, h, slow);
        emit AssetParamsUpdated(asset, cfg.limitBps, cfg.window, cfg.floor, cfg.cooldown, cfg.mode, cfg.creditShift);
    }

    /// @notice Clear a trip early (ERC-7265's overrideRateLimit, scoped to one asset). Governance only.
    /// @dev Queued claims are then released in FIFO order as headroom allows.
    /// @param asset A tripped asset.
    function overrideRateLimit(address asset) external onlyGovernance {
        AssetSlots storage a = _assets[asset];
        uint256 c = a.config;
        if (c >> OFF_UNTIL & M32 <= block.timestamp) revert NotTripped(asset);
        a.config = c & PARAMS_MASK;
        emit RateLimitCleared(asset, msg.sender);
    }

    /// @notice Extend a live trip to `until`. The guardian may add at most GUARDIAN_MAX_EXTENSION in total
    ///         per trip; governance may set up to MAX_TRIP_EXTENSION ahead per call.
    /// @param asset A tripped asset.
    /// @param until New trip end, later than the current one.
    function extendRateLimit(address asset, uint256 until) external onlyGuardian {
        AssetSlots storage a = _assets[asset];
        uint256 c = a.config;
        uint256 cur = c >> OFF_UNTIL & M32;
        if (cur <= block.timestamp) revert NotTripped(asset);
        uint256 maxUntil = msg.sender == governance ? block.timestamp + MAX_TRIP_EXTENSION : c >> OFF_GCAP;
        if (until <= cur || until > maxUntil) revert ExtensionOutOfBounds(asset, until, maxUntil);
        a.config = (c & ~(M32 << OFF_UNTIL)) | (until << OFF_UNTIL);
        emit RateLimitExtended(asset, until, msg.sender);
    }

    // ------------------------------------------------------------------------------------------------
    // Claims (delayed settlement)
    // ------------------------------------------------------------------------------------------------

    /// @notice Pay `recipient`'s claim on `asset` if released (ERC-7265 name). Anyone may call; the funds
    ///         only ever go to `recipient`.
    /// @dev First reports an expired trip and releases queued claims in FIFO order as headroom allows. A
    ///      claim not yet released returns 0 instead of reverting (ERC-7265 reverts), so the release
    ///      progress is kept and a claim larger than one window's limit still gets out over several.
    /// @return amount The amount paid (0 if the claim is still waiting).
    function claimLockedFunds(address asset, address recipient) external returns (uint256 amount) {
        Claim memory cl = _claims[asset][recipient];
        if (cl.amount == 0) revert NoLockedFunds(asset, recipient);
        _beforeClaimPaid(asset, recipient);
        _settleAndStore(asset);
        if (_queues[asset].released < cl.position) return 0;
        delete _claims[asset][recipient];
        amount = cl.amount;
        emit LockedFundsClaimed(asset, recipient, amount);
        _payLockedFunds(asset, recipient, amount);
    }

    /// @notice Settle `asset`'s bucket now: report an expired trip, release queued claims in FIFO order
    ///         as headroom allows, and fold pending inflows (their limit starts phasing in). Anyone may
    ///         call; any outflow or claim does the same.
    function releaseLockedFunds(address asset) external {
        _settleAndStore(asset);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @notice Whether `asset` is tripped now (ERC-7265 name). Scoped to this asset and to outflows.
    function isRateLimitTriggered(address asset) public view returns (bool) {
        return _assets[asset].config >> OFF_UNTIL & M32 > block.timestamp;
    }

    /// @notice What may leave now without queueing or reverting: 0 while tripped; queued claims are
    ///         served first.
    function headroom(address asset) external view returns (uint256) {
        if (isRateLimitTriggered(asset)) return 0;
        (,, uint256 h) = _current(asset);
        Queue memory q = _queues[asset];
        uint256 backlog = q.queued - q.released;
        return h > backlog ? h - backlog : 0;
    }

    /// @notice Current limit `L` of `asset` (the bucket's full level) on its tracked liquidity.
    function currentLimit(address asset) external view returns (uint256) {
        (uint256 w, uint256 c) = _slots(asset);
        return _limit(c, w & M96);
    }

    /// @notice Tracked liquidity of `asset` (includes claims not yet released).
    function trackedLiquidity(address asset) external view returns (uint256) {
        return _assets[asset].flow & M96;
    }

    /// @notice Parameters of `asset`.
    function assetConfig(address asset) external view returns (AssetConfig memory cfg) {
        uint256 c = _assets[asset].config;
        // Each cast extracts one bit field of the config word on purpose.
        cfg.floor = c & M96;
        // forge-lint: disable-next-line(unsafe-typecast)
        cfg.limitBps = uint16(c >> OFF_BPS);
        // forge-lint: disable-next-line(unsafe-typecast)
        cfg.window = uint32(c >> OFF_WIN);
        // forge-lint: disable-next-line(unsafe-typecast)
        cfg.cooldown = uint32(c >> OFF_COOL);
        // forge-lint: disable-next-line(unsafe-typecast)
        cfg.mode = Mode(uint8(c >> OFF_MODE));
        // forge-lint: disable-next-line(unsafe-typecast)
        cfg.creditShift = uint8(c >> OFF_CREDIT);
    }

    /// @notice Trip state of `asset`: end (0 if none or cleared) and the guardian's extension bound.
    function tripInfo(address asset) external view returns (uint256 until, uint256 guardianCap) {
        uint256 c = _assets[asset].config;
        return (c >> OFF_UNTIL & M32, c >> OFF_GCAP);
    }

    /// @notice FIFO queue cursors of `asset`: total ever queued and total released.
    function queueInfo(address asset) public view returns (uint256 queued, uint256 released) {
        Queue memory q = _queues[asset];
        return (q.queued, q.released);
    }

    /// @notice Claim of `recipient` on `asset` (ERC-7265 argument order).
    function lockedFunds(address recipient, address asset) external view returns (uint256) {
        return _claims[asset][recipient].amount;
    }

    /// @notice Time of the last addition to `recipient`'s claim on `asset` (0: no claim).
    function claimLockedAt(address asset, address recipient) external view returns (uint256) {
        return _claims[asset][recipient].lockedAt;
    }

    /// @notice Claim of `recipient` on `asset` and its FIFO position.
    function claimInfo(address asset, address recipient) external view returns (uint256 amount, uint256 position) {
        Claim memory cl = _claims[asset][recipient];
        return (cl.amount, cl.position);
    }

    // ------------------------------------------------------------------------------------------------
    // Hooks and incident tools for the integrating protocol
    // ------------------------------------------------------------------------------------------------

    /// @notice Called before a claim is paid; revert to hold claims (e.g. while the protocol is paused for
    ///         an incident). The default holds nothing.
    function _beforeClaimPaid(address asset, address recipient) internal view virtual {}

    /// @notice Return a voided claim of `recipient` to `asset`'s liquidity once the FIFO cursor has
    ///         passed it (its release counted it as an outflow, but the funds never left). The integrator
    ///         exposes it (anyone may call: it only restores the books).
    /// @return amount The amount returned.
    function _returnVoidedFunds(address asset, address recipient) internal returns (uint256 amount) {
        Claim memory v = _voided[asset][recipient];
        if (v.amount == 0) revert NoLockedFunds(asset, recipient);
        _settleAndStore(asset);
        uint256 released = _queues[asset].released;
        if (released < v.position) revert VoidedNotReleased(asset, recipient, v.position, released);
        delete _voided[asset][recipient];
        amount = v.amount;
        emit VoidedFundsReturned(asset, recipient, amount);
        _onTokenInflow(asset, amount);
    }

    /// @notice Voided claim of `recipient` on `asset` not yet returned to the liquidity, and its position.
    function _voidedClaimOf(address asset, address recipient) internal view returns (uint256, uint256) {
        Claim memory v = _voided[asset][recipient];
        return (v.amount, v.position);
    }

    /// @notice Record an outflow of `amount` that returns the recipient's own recent inflow (the integrator
    ///         checks that): it leaves the liquidity but takes no headroom, never trips and never queues,
    ///         so a deposit-then-withdraw round trip cannot eat other recipients' headroom.
    /// @dev The headroom it leaves is at most what the inflow's credit added (capped as every headroom
    ///      is), so the documented bound on outflows through the headroom is unchanged.
    function _onNettedOutflow(address asset, uint256 amount) internal {
        (uint256 c, uint256 liq, uint256 h, bool slow) = _settle(asset);
        if (amount > liq) revert LiquidityUnderflow(asset, amount, liq);
        _assets[asset].flow = _encodeFlow(c, liq - amount, h, slow);
    }

    /// @notice Void `recipient`'s claim on `asset` if its last addition was locked in [`from`, `to`]:
    ///         it will never pay `recipient`. Its place in the queue stays (claims behind it wait no
    ///         longer than before); once released, `returnVoidedFunds` puts the amount back into the
    ///         liquidity. The integrator bounds the window and its caller (governance) and books the amount.
    /// @return amount The amount voided (0 if there was no claim locked in the window).
    function _voidClaim(address asset, address recipient, uint256 from, uint256 to, bytes32 reportHash)
        internal
        returns (uint256 amount)
    {
        Claim memory cl = _claims[asset][recipient];
        if (cl.amount == 0 || cl.lockedAt < from || cl.lockedAt > to) return 0;
        delete _claims[asset][recipient];
        Claim storage v = _voided[asset][recipient];
        v.amount += cl.amount; // both parts of the liquidity: fits 96 bits
        if (cl.position > v.position) v.position = cl.position;
        amount = cl.amount;
        emit LockedFundsVoided(asset, recipient, amount, cl.lockedAt, reportHash);
    }

    // ------------------------------------------------------------------------------------------------
    // Internals (reference math, used by every path except the two hot ones)
    // ------------------------------------------------------------------------------------------------

    function _slots(address asset) private view returns (uint256 w, uint256 c) {
        AssetSlots storage a = _assets[asset];
        c = a.config;
        if (c == 0) revert AssetNotRegistered(asset);
        w = a.flow;
    }

    /// @dev L(x) = max(floor, x * bps / 10_000); floor >= 1 so L >= 1.
    function _limit(uint256 c, uint256 liq) private pure returns (uint256 lim) {
        lim = (liq * (c >> OFF_BPS & 0xffff)) / BPS;
        uint256 fl = c & M96;
        if (fl > lim) lim = fl;
    }

    /// @dev Headroom ceiling after inflows: L + credit.
    function _cap(uint256 c, uint256 lim) private pure returns (uint256) {
        uint256 sh = c >> OFF_CREDIT & 0xff;
        return sh < 3 ? lim + (lim >> sh) : lim;
    }

    /// @dev Move `frac` toward 1.0 by dt / window (rounded down): refill below 1.0, credit decay above.
    function _refill(uint256 frac, uint256 dt, uint256 win) private pure returns (uint256) {
        uint256 step = (dt << 30) / win;
        if (frac < ONE) return ONE - frac > step ? frac + step : ONE;
        return frac - ONE > step ? frac - step : ONE;
    }

    /// @dev `x` rounded UP to a float: mantissa <= 2^24 in 25 bits, 7-bit exponent (x < 2^96).
    function _encodeBase(uint256 x) private pure returns (uint256) {
        uint256 e;
        while (x >> (24 + e) != 0) ++e;
        uint256 m = x >> e;
        if (m << e < x) ++m; // m <= 2^24
        return (e << 25) | m;
    }

    /// @dev The range [lo, hi] in which the encoded value lies.
    function _decodeBase(uint256 f) private pure returns (uint256 lo, uint256 hi) {
        uint256 e = f >> 25;
        hi = (f & M25) << e;
        // 2^e - 1: the shift is meant this way round.
        // forge-lint: disable-next-line(incorrect-shift)
        lo = hi - ((1 << e) - 1);
    }

    /// @dev Liquidity and absolute headroom as of now. Pending inflows (exact times unknown) are
    ///      credited at the first one; until the last one the bucket refills at the old limit and decays
    ///      credit at the new one; then it runs at the new limit. Each choice is the most conservative.
    function _settledHeadroom(uint256 w, uint256 c) private view returns (uint256 liq, uint256 h) {
        liq = w & M96;
        uint256 frac = w >> OFF_FRAC & FRAC_MAX;
        uint256 t0 = w >> OFF_TS & M32;
        uint256 first = w >> OFF_FIRST & M32;
        uint256 win = c >> OFF_WIN & M32;
        uint256 lim = _limit(c, liq);
        if (first == 0) {
            frac = _refill(frac, (block.timestamp - t0) & M32, win);
            return (liq, (frac * lim) >> 30);
        }
        uint256 limNew = lim;
        (uint256 baseLo, uint256 base) = _decodeBase(w >> OFF_BASE & M32);
        lim = _limit(c, baseLo);
        frac = _refill(frac, (first - t0) & M32, win);
        h = (frac * lim) >> 30;
        uint256 cap = _cap(c, lim);
        if (h < cap && liq > base) h = cap - h > liq - base ? h + (liq - base) : cap;
        uint256 last = w >> OFF_LAST;
        uint256 dt = (last - first) & M32;
        if (dt != 0) {
            if (h < lim) {
                h += (lim * dt) / win; // the slowest refill
                if (h > lim) h = lim;
            } else {
                uint256 dec = (limNew * dt) / win; // the fastest credit decay
                h = h - lim > dec ? h - dec : lim;
            }
        }
        // h <= Lold + credit <= 2 * limNew here, and moving toward limNew keeps it so.
        h = _move(h, limNew, (limNew * ((block.timestamp - last) & M32)) / win);
    }

    /// @dev Move `h` toward `lim` by `step`.
    function _move(uint256 h, uint256 lim, uint256 step) private pure returns (uint256) {
        if (h < lim) return lim - h > step ? h + step : lim;
        return h - lim > step ? h - step : lim;
    }

    /// @dev Flow word for liquidity `liq` and headroom `h` (stored as a fraction of L(liq), rounded
    ///      down), settled now, nothing pending.
    function _encodeFlow(uint256 c, uint256 liq, uint256 h, bool slow) private view returns (uint256) {
        uint256 base = _encodeBase(liq);
        uint256 frac = (h << 30) / _limit(c, liq);
        if (frac > FRAC_MAX) frac = FRAC_MAX;
        uint256 t = block.timestamp & M32;
        return (t << OFF_LAST) | (t << OFF_TS) | (slow ? SLOW_BIT : 0) | (frac << OFF_FRAC) | (base << OFF_BASE) | liq;
    }

    /// @dev Config, liquidity and headroom as of now, without side effects.
    function _current(address asset) private view returns (uint256 c, uint256 liq, uint256 h) {
        uint256 w;
        (w, c) = _slots(asset);
        (liq, h) = _settledHeadroom(w, c);
    }

    /// @dev Settle: report an expired trip, then (if not tripped) release queued claims with the
    ///      headroom. Writes the trip and the queue; the caller stores the returned flow state.
    function _settle(address asset) private returns (uint256 c, uint256 liq, uint256 h, bool slow) {
        uint256 w;
        (w, c) = _slots(asset);
        (liq, h) = _settledHeadroom(w, c);
        slow = w & SLOW_BIT != 0;
        if (!slow) return (c, liq, h, slow);
        uint256 until = c >> OFF_UNTIL & M32;
        if (until != 0 && until <= block.timestamp) {
            c &= PARAMS_MASK;
            _assets[asset].config = c;
            until = 0;
            emit RateLimitCleared(asset, address(0));
        }
        if (until != 0) return (c, liq, h, slow);
        Queue storage q = _queues[asset];
        uint256 released = q.released;
        uint256 backlog = q.queued - released;
        uint256 rel = backlog < h ? backlog : h;
        if (rel != 0) {
            // Queued claims still count in the liquidity: releasing them is the outflow.
            released += rel;
            // forge-lint: disable-next-line(unsafe-typecast)
            q.released = uint128(released); // <= queued < 2^128
            h -= rel;
            liq -= rel;
            emit LockedFundsReleased(asset, rel, released);
        }
        slow = rel != backlog;
    }

    function _settleAndStore(address asset) private {
        (uint256 c, uint256 liq, uint256 h, bool slow) = _settle(asset);
        _assets[asset].flow = _encodeFlow(c, liq, h, slow);
    }

    function _inflowRevert(address asset, uint256 amount) private view {
        AssetSlots storage a = _assets[asset];
        if (a.config == 0) revert AssetNotRegistered(asset);
        revert LiquidityOverflow(asset, amount, a.flow & M96);
    }

    /// @dev Outflow when tripped, with a backlog, above the headroom, or for an unknown asset.
    function _outflowSlow(address asset, address recipient, uint256 amount) private returns (bool) {
        (uint256 c, uint256 liq, uint256 h, bool slow) = _settle(asset);
        // Queued claims still count in the liquidity but are already promised (audit F7).
        Queue storage q = _queues[asset];
        uint256 free = liq - (q.queued - q.released);
        if (amount > free) revert LiquidityUnderflow(asset, amount, free);
        bool delayed = c >> OFF_MODE & 0xff == uint256(Mode.DELAYED);
        AssetSlots storage a = _assets[asset];
        if (!slow) {
            // Not tripped, no backlog.
            if (amount <= h) {
                a.flow = _encodeFlow(c, liq - amount, h - amount, false);
                return true;
            }
            if (!delayed) revert RateLimited(asset, amount, h);
            // Bounded: now + 7 days + 24 h fits 32 bits until 2106.
            uint256 until = block.timestamp + (c >> OFF_COOL & M32);
            a.config = c | (until << OFF_UNTIL) | ((until + GUARDIAN_MAX_EXTENSION) << OFF_GCAP);
            emit AssetRateLimitBreached(asset, amount, h, until);
        } else if (!delayed) {
            uint256 until = c >> OFF_UNTIL & M32;
            if (until != 0) revert RateLimitActive(asset, until);
            revert RateLimited(asset, amount, 0);
        }
        a.flow = _encodeFlow(c, liq, h, true);
        uint256 position = q.queued + amount;
        // Amounts are below 2^96 (tracked liquidity) and sums of them far below 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        q.queued = uint128(position);
        Claim storage cl = _claims[asset][recipient];
        // A recipient's claims are part of the liquidity (< 2^96); times fit 32 bits until 2106.
        // forge-lint: disable-next-line(unsafe-typecast)
        cl.amount += uint96(amount);
        // forge-lint: disable-next-line(unsafe-typecast)
        cl.position = uint128(position);
        // forge-lint: disable-next-line(unsafe-typecast)
        cl.lockedAt = uint32(block.timestamp);
        emit FundsLocked(asset, recipient, amount, position);
        return false;
    }

    /// @dev Check bounds and encode the parameter bits of the config word.
    function _encodeParams(AssetConfig memory cfg) private pure returns (uint256) {
        if (cfg.limitBps == 0 || cfg.limitBps > BPS) revert InvalidLimiterParam("limitBps", cfg.limitBps);
        if (cfg.window < MIN_WINDOW || cfg.window > MAX_WINDOW) revert InvalidLimiterParam("window", cfg.window);
        if (cfg.cooldown < MIN_COOLDOWN || cfg.cooldown > MAX_COOLDOWN) {
            revert InvalidLimiterParam("cooldown", cfg.cooldown);
        }
        if (cfg.floor == 0 || cfg.floor > MAX_AMOUNT) revert InvalidLimiterParam("floor", cfg.floor);
        if (cfg.creditShift > 3) revert InvalidLimiterParam("creditShift", cfg.creditShift);
        return cfg.floor | (uint256(cfg.limitBps) << OFF_BPS) | (uint256(cfg.window) << OFF_WIN)
            | (uint256(cfg.cooldown) << OFF_COOL) | (uint256(uint8(cfg.mode)) << OFF_MODE)
            | (uint256(cfg.creditShift) << OFF_CREDIT);
    }
}
