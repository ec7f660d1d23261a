// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "./GuardAccess.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title OracleGuard
/// @notice Wraps Chainlink-style feeds per market and tells the protocol which price to use and whether
///         the market must be reduce-only (no new risk; exits, repayments and liquidations go on).
///         Checks, per market: the primary feed (and an optional secondary) is fresh within its own
///         heartbeat, answers a positive price, the two feeds agree within `maxDeviationBps`, and the
///         price has not moved more than `maxJumpBps` from the anchor price of the current
///         `jumpInterval`. On a failure the market turns reduce-only and keeps its last good price;
///         it recovers by itself once the feeds are fresh and agree again.
///         A genuine large move is never left stuck:
///         - with a secondary feed, a jump both feeds agree on is CORROBORATED: it is accepted at once
///           (liquidations use the real price, so no bad debt piles up behind a stale one) and the
///           market stays reduce-only for `jumpCooldown` while the dust settles;
///         - with a single feed, the jumped price is a CANDIDATE: it is accepted once a later round,
///           at least `jumpCooldown` after the first sighting, confirms it within `maxJumpBps`; until
///           then exits use the last good price. No governance vote is ever needed to unstick it.
///         The guardian can force a market reduce-only for a bounded time.
///         An optional independent REFERENCE per market (for example a PoolTwapFeed: an on-chain source
///         no feed signer controls) bounds the feeds: while it is usable, a feed price further than
///         `boundBps` from it fails as a Deviation, a jump counts as corroborated only if the reference
///         agrees too (otherwise it takes the single-feed confirmation path), and whenever the market is
///         failing the price handed out is the last good price clamped into the reference's band, so no
///         exit, withdrawal or liquidation is priced further than `boundBps` from it.
/// @dev Hot path: two config slots, two state slots and one `latestRoundData` per feed; writes only
///      when something changed (same feed round and status: no SSTORE). Prices are 18-decimal.
contract OracleGuard is GuardAccess {
    /// @notice Why a market is failing its feed checks (`Ok` when the feeds pass).
    enum Status {
        Ok,
        Stale, // a feed is older than its heartbeat
        Invalid, // a feed reverted, answered <= 0, answered from the future or overflowed
        Deviation, // primary and secondary disagree by more than maxDeviationBps
        JumpPending // single-feed jump waiting for a confirming round
    }

    /// @notice Market configuration as governance passes it.
    /// @param primary The primary Chainlink-style feed.
    /// @param primaryHeartbeat Max age of the primary's answer, seconds (the feed's own heartbeat + slack).
    /// @param secondary Optional cross-check feed (zero for none).
    /// @param secondaryHeartbeat Max age of the secondary's answer, seconds.
    /// @param maxDeviationBps Max disagreement between the feeds, bps of the primary price.
    /// @param maxJumpBps Max move from the interval's anchor price, bps.
    /// @param jumpInterval Length of a jump-limit interval, seconds.
    /// @param jumpCooldown Reduce-only time after a corroborated jump; confirmation wait for a single feed.
    struct FeedConfig {
        address primary;
        uint32 primaryHeartbeat;
        address secondary;
        uint32 secondaryHeartbeat;
        uint16 maxDeviationBps;
        uint16 maxJumpBps;
        uint32 jumpInterval;
        uint32 jumpCooldown;
    }

    /// @dev Stored configuration: two slots.
    struct Config {
        address primary;
        uint24 primaryHeartbeat;
        uint8 primaryDecimals;
        uint16 maxDeviationBps;
        uint16 maxJumpBps;
        uint32 jumpInterval;
        address secondary;
        uint24 secondaryHeartbeat;
        uint8 secondaryDecimals;
        uint32 jumpCooldown;
        bool hasReference; // fits the second slot: markets without a reference pay no extra read
    }

    /// @notice An independent reference source of a market (one slot).
    /// @param feed Chainlink-style feed (e.g. a PoolTwapFeed); zero for none.
    /// @param heartbeat Max age of its answer, seconds.
    /// @param decimals Its decimals.
    /// @param boundBps Max distance of a price handed out from the reference, bps.
    struct Reference {
        address feed;
        uint24 heartbeat;
        uint8 decimals;
        uint16 boundBps;
    }

    /// @dev Hot state: one slot.
    struct State {
        uint128 lastGood; // last good price, 18 decimals
        uint40 lastGoodAt; // `updatedAt` of the primary round that gave it
        uint40 forcedUntil; // forced reduce-only until (guardian or governance)
        uint40 cooldownUntil; // reduce-only after a corroborated jump until
        Status status;
    }

    /// @dev Jump-limit anchor: one slot (plus the forced episode start, read only by force calls).
    struct Anchor {
        uint128 price;
        uint40 at;
        uint40 forceEpisodeStart;
    }

    /// @dev Single-feed jump candidate (rare path).
    struct Candidate {
        uint128 price;
        uint40 since; // when first seen
        uint40 roundAt; // `updatedAt` of the round that showed it
    }

    /// @dev Result of evaluating the feeds against stored state.
    struct Eval {
        State s;
        Anchor a;
        Candidate c;
        bool anchorDirty;
        bool candidateDirty;
        bool jumpAccepted;
        bool corroborated;
        uint256 observed;
        uint256 jumpFrom;
    }

    uint256 private constant BPS = 10_000;
    uint256 private constant LATEST_ROUND_DATA = 0xfeaf968c;

    /// @notice Bounds of configuration values.
    uint256 public constant MAX_HEARTBEAT = 3 days;
    /// @notice Bounds of configuration values.
    uint256 public constant MAX_DEVIATION_BPS = 2_000;
    /// @notice Bounds of configuration values.
    uint256 public constant MAX_JUMP_INTERVAL = 1 days;
    /// @notice Bounds of configuration values.
    uint256 public constant MAX_JUMP_COOLDOWN = 1 days;
    /// @notice Longest single guardian forcing.
    uint256 public constant GUARDIAN_MAX_FORCE = 1 days;
    /// @notice Longest continuous guardian episode (extensions included).
    uint256 public constant GUARDIAN_MAX_EPISODE = 3 days;
    /// @notice Wait after an episode ends before the guardian may start another on the same market.
    uint256 public constant GUARDIAN_REFORCE_GAP = 1 days;
    /// @notice Longest governance forcing (renewable by another timelocked call).
    uint256 public constant GOVERNANCE_MAX_FORCE = 30 days;

    mapping(bytes32 market => Config) private _configs;
    mapping(bytes32 market => State) private _states;
    mapping(bytes32 market => Anchor) private _anchors;
    mapping(bytes32 market => Candidate) private _candidates;
    mapping(bytes32 market => Reference) private _references;

    /// @notice Governance configured (or reconfigured) a market; `seedPrice` is its new last good price.
    event MarketConfigured(bytes32 indexed market, FeedConfig config, uint256 seedPrice);
    /// @notice The feed status of a market changed. `price` is the price the protocol now gets.
    event StatusChanged(bytes32 indexed market, Status previous, Status current, uint256 price, uint256 observed);
    /// @notice A move beyond the jump limit was accepted (corroborated by two feeds, or confirmed).
    event JumpAccepted(bytes32 indexed market, uint256 from, uint256 to, bool corroborated, uint256 reduceOnlyUntil);
    /// @notice A single-feed jump candidate was recorded (or replaced).
    event JumpCandidate(bytes32 indexed market, uint256 lastGood, uint256 candidate);
    /// @notice A market was forced reduce-only until `until`.
    event ReduceOnlyForced(bytes32 indexed market, uint256 until, address indexed by);
    /// @notice Governance set (or, with a zero feed, removed) the independent reference of a market.
    event ReferenceSet(bytes32 indexed market, address feed, uint256 heartbeat, uint256 boundBps);
    /// @notice Governance lifted a forced reduce-only.
    event ReduceOnlyLifted(bytes32 indexed market, address indexed by);

    /// @notice The market is not configured.
    error UnknownMarket(bytes32 market);
    /// @notice A configuration value is out of its bounds (`field` names it).
    error InvalidConfig(bytes32 market, string field);
    /// @notice A feed cannot seed the market now (status tells why); retry when it is fresh and agrees.
    error FeedUnusable(bytes32 market, Status status);
    /// @notice A forcing duration or episode exceeds the caller's bound.
    error ForceTooLong(bytes32 market, uint256 requestedUntil, uint256 maxUntil);
    /// @notice The guardian's previous episode ended too recently; retry at `allowedAt`.
    error ReforceTooSoon(bytes32 market, uint256 allowedAt);

    /// @param governance_ The timelock.
    /// @param guardian_ The guardian Safe (may force reduce-only, bounded).
    constructor(address governance_, address guardian_) GuardAccess(governance_, guardian_) {}

    // ---------------------------------------------------------------- protocol API

    /// @notice The price to use for `market` and whether it must be reduce-only. Records the new last
    ///         good price, anchors and status changes (emitting events). Anyone may call it.
    /// @param market The market id.
    /// @return price18 The checked price, or the last good price when the feeds fail (18 decimals).
    /// @return reduceOnly True when no new risk may be opened.
    function checkedPrice(bytes32 market) external returns (uint256 price18, bool reduceOnly) {
        Config memory c = _configOf(market);
        State memory before = _states[market];
        Eval memory e = _evaluate(market, c, before);
        State memory s = e.s;
        if (
            s.lastGood != before.lastGood || s.lastGoodAt != before.lastGoodAt || s.status != before.status
                || s.cooldownUntil != before.cooldownUntil
        ) {
            _states[market] = s;
        }
        if (e.anchorDirty) _anchors[market] = e.a;
        if (e.candidateDirty) {
            _candidates[market] = e.c;
            if (e.c.since != 0) emit JumpCandidate(market, s.lastGood, e.c.price);
        }
        if (e.jumpAccepted) emit JumpAccepted(market, e.jumpFrom, s.lastGood, e.corroborated, s.cooldownUntil);
        if (s.status != before.status) emit StatusChanged(market, before.status, s.status, s.lastGood, e.observed);
        return (_handedOut(market, c, s), _reduceOnly(s));
    }

    /// @notice What `checkedPrice` would return now, without recording anything.
    /// @param market The market id.
    /// @return price18 The checked price, or the last good price when the feeds fail (18 decimals).
    /// @return reduceOnly True when no new risk may be opened.
    function viewPrice(bytes32 market) external view returns (uint256 price18, bool reduceOnly) {
        Config memory c = _configOf(market);
        Eval memory e = _evaluate(market, c, _states[market]);
        return (_handedOut(market, c, e.s), _reduceOnly(e.s));
    }

    /// @notice The range of prices that could be the market's true price now: the last good price and
    ///         every feed's latest answer, fresh or not (a held price may be far from the market while a
    ///         jump waits, feeds disagree or one is stale). A feed with no usable answer widens the range
    ///         to (0, type(uint128).max): nothing is known about that side.
    /// @dev For pricing a payout at its worst case while the market fails its checks (audit F5).
    /// @param market The market id.
    /// @return low Lowest candidate price, 18 decimals.
    /// @return high Highest candidate price, 18 decimals.
    function observedRange(bytes32 market) external view returns (uint256 low, uint256 high) {
        Config memory c = _configOf(market);
        low = high = _states[market].lastGood;
        (low, high) = _widen(low, high, c.primary, c.primaryDecimals);
        if (c.secondary != address(0)) (low, high) = _widen(low, high, c.secondary, c.secondaryDecimals);
    }

    /// @notice The prices an exit may be filled at while the market is reduce-only (a deviation episode, a
    ///         pending jump, a stale feed, a cooldown or a forcing): the price handed out now, every feed's
    ///         latest usable answer (stale included) and the reference's, clamped into the reference's
    ///         band while it is usable. A close is filled at the end worse for the account, so nobody
    ///         leaves with the gift of a held price the market has left (class 3); the clamp bounds what
    ///         a lagging or lying source can cost an honest account: at most `boundBps` from the reference.
    ///         A feed with no usable answer (reverts, <= 0) tells nothing and is left out.
    /// @param market The market id.
    /// @return low Lowest candidate price, 18 decimals.
    /// @return high Highest candidate price, 18 decimals.
    function exitRange(bytes32 market) external view returns (uint256 low, uint256 high) {
        Config memory c = _configOf(market);
        low = high = _handedOut(market, c, _states[market]);
        (low, high) = _include(low, high, c.primary, c.primaryDecimals);
        if (c.secondary != address(0)) (low, high) = _include(low, high, c.secondary, c.secondaryDecimals);
        uint256 ref = c.hasReference ? _referencePrice(market) : 0;
        if (ref == 0) return (low, high);
        if (ref < low) low = ref;
        if (ref > high) high = ref;
        uint256 b = _references[market].boundBps;
        uint256 lo = ref - (ref * b) / BPS;
        uint256 hi = ref + (ref * b) / BPS;
        if (low < lo) low = lo;
        if (high > hi) high = hi;
    }

    /// @notice The last recorded good price (no feed reads): the cheapest fallback read.
    /// @param market The market id.
    /// @return price18 Last good price, 18 decimals.
    /// @return updatedAt `updatedAt` of the primary round that gave it.
    /// @return reduceOnly Reduce-only as last recorded (forcing and cooldowns evaluated now).
    function lastGoodPrice(bytes32 market) external view returns (uint256 price18, uint256 updatedAt, bool reduceOnly) {
        _configOf(market);
        State memory s = _states[market];
        return (s.lastGood, s.lastGoodAt, _reduceOnly(s));
    }

    /// @notice Full recorded state of a market (for watchers and tests).
    /// @param market The market id.
    function marketState(bytes32 market)
        external
        view
        returns (State memory state, Anchor memory anchor, Candidate memory candidate)
    {
        _configOf(market);
        return (_states[market], _anchors[market], _candidates[market]);
    }

    /// @notice Stored configuration of a market.
    /// @param market The market id.
    function configOf(bytes32 market) external view returns (Config memory) {
        return _configOf(market);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Configure or reconfigure `market`. The feeds must be usable now: they seed the last good
    ///         price and anchor. Reconfiguring clears status and candidate and keeps any forcing and any
    ///         jump cooldown; when the new feeds' price is beyond the jump limit from the last good price,
    ///         it keeps the last good price and anchor too, and the jump rules decide on the next check.
    /// @param market The market id.
    /// @param cfg The feeds and limits.
    function setMarket(bytes32 market, FeedConfig calldata cfg) external onlyGovernance {
        _validate(market, cfg);
        Config memory c = Config({
            primary: cfg.primary,
            // Safe casts: heartbeats are bounded by MAX_HEARTBEAT < 2^24 in _validate.
            // forge-lint: disable-next-line(unsafe-typecast)
            primaryHeartbeat: uint24(cfg.primaryHeartbeat),
            primaryDecimals: AggregatorV3Interface(cfg.primary).decimals(),
            maxDeviationBps: cfg.maxDeviationBps,
            maxJumpBps: cfg.maxJumpBps,
            jumpInterval: cfg.jumpInterval,
            secondary: cfg.secondary,
            // forge-lint: disable-next-line(unsafe-typecast)
            secondaryHeartbeat: uint24(cfg.secondaryHeartbeat),
            secondaryDecimals: cfg.secondary == address(0) ? 0 : AggregatorV3Interface(cfg.secondary).decimals(),
            jumpCooldown: cfg.jumpCooldown,
            hasReference: _references[market].feed != address(0)
        });
        if (c.primaryDecimals > 36 || c.secondaryDecimals > 36) revert InvalidConfig(market, "decimals");
        (Status st, uint256 p, uint256 at) = _readFeeds(c);
        if (st != Status.Ok) revert FeedUnusable(market, st);
        bool existing = _configs[market].primary != address(0);
        _configs[market] = c;
        State storage s = _states[market];
        if (existing && !_within(p, s.lastGood, c.maxJumpBps)) {
            // Whoever executes a queued reconfiguration picks its moment: it must not accept a jump or end
            // a cooldown. The jump rules judge the new feeds' price on the next check.
            emit MarketConfigured(market, cfg, s.lastGood);
            return;
        }
        // Safe casts: _read bounds p by uint128 and `at` by block.timestamp.
        // forge-lint: disable-next-line(unsafe-typecast)
        s.lastGood = uint128(p);
        // forge-lint: disable-next-line(unsafe-typecast)
        s.lastGoodAt = uint40(at);
        if (!existing) s.cooldownUntil = 0; // a reconfiguration keeps a running jump cooldown
        s.status = Status.Ok;
        Anchor storage a = _anchors[market];
        // forge-lint: disable-next-line(unsafe-typecast)
        a.price = uint128(p);
        a.at = uint40(block.timestamp);
        delete _candidates[market];
        emit MarketConfigured(market, cfg, p);
    }

    /// @notice Set the independent reference of `market` (zero `feed` removes it).
    /// @param market The market id (configured).
    /// @param feed Chainlink-style feed the feed signers do not control, e.g. a PoolTwapFeed.
    /// @param heartbeat Max age of its answer, seconds, in (0, MAX_HEARTBEAT].
    /// @param boundBps Max distance from it of any price handed out, in (0, MAX_DEVIATION_BPS].
    function setReference(bytes32 market, address feed, uint256 heartbeat, uint256 boundBps) external onlyGovernance {
        _configOf(market);
        if (feed == address(0)) {
            delete _references[market];
        } else {
            if (heartbeat == 0 || heartbeat > MAX_HEARTBEAT) revert InvalidConfig(market, "referenceHeartbeat");
            if (boundBps == 0 || boundBps > MAX_DEVIATION_BPS) revert InvalidConfig(market, "referenceBoundBps");
            uint8 dec = AggregatorV3Interface(feed).decimals();
            if (dec > 36) revert InvalidConfig(market, "decimals");
            // Bounded above: heartbeat < 2^24, boundBps <= 2,000.
            // forge-lint: disable-next-line(unsafe-typecast)
            _references[market] = Reference(feed, uint24(heartbeat), dec, uint16(boundBps));
        }
        _configs[market].hasReference = feed != address(0);
        emit ReferenceSet(market, feed, heartbeat, boundBps);
    }

    /// @notice The independent reference of `market` (zero feed: none).
    function referenceOf(bytes32 market) external view returns (Reference memory) {
        return _references[market];
    }

    /// @notice Governance: end a forced reduce-only now (the guardian may force again at once).
    /// @param market The market id.
    function liftReduceOnly(bytes32 market) external onlyGovernance {
        _configOf(market);
        _states[market].forcedUntil = 0;
        _anchors[market].forceEpisodeStart = 0;
        emit ReduceOnlyLifted(market, msg.sender);
    }

    // ---------------------------------------------------------------- guardian

    /// @notice Force `market` reduce-only for `duration` seconds from now. Never shortens a forcing.
    ///         Guardian: at most GUARDIAN_MAX_FORCE per call, an episode (with extensions) at most
    ///         GUARDIAN_MAX_EPISODE, and a new episode only GUARDIAN_REFORCE_GAP after the last ended.
    ///         Governance: at most GOVERNANCE_MAX_FORCE per call.
    /// @param market The market id.
    /// @param duration Seconds from now.
    function forceReduceOnly(bytes32 market, uint256 duration) external onlyGuardian {
        _configOf(market);
        State storage s = _states[market];
        Anchor storage a = _anchors[market];
        uint256 until = block.timestamp + duration;
        uint256 current = s.forcedUntil;
        bool active = block.timestamp < current;
        if (until <= current) return; // never shortens; nothing changes
        uint256 start = active ? a.forceEpisodeStart : block.timestamp;
        if (msg.sender == governance) {
            if (duration > GOVERNANCE_MAX_FORCE) {
                revert ForceTooLong(market, until, block.timestamp + GOVERNANCE_MAX_FORCE);
            }
        } else {
            uint256 maxUntil = block.timestamp + GUARDIAN_MAX_FORCE;
            if (active && start + GUARDIAN_MAX_EPISODE < maxUntil) maxUntil = start + GUARDIAN_MAX_EPISODE;
            if (until > maxUntil) revert ForceTooLong(market, until, maxUntil);
            if (!active && current != 0 && block.timestamp < current + GUARDIAN_REFORCE_GAP) {
                revert ReforceTooSoon(market, current + GUARDIAN_REFORCE_GAP);
            }
        }
        // Safe casts: bounded by block.timestamp + 30 days.
        // forge-lint: disable-next-line(unsafe-typecast)
        s.forcedUntil = uint40(until);
        // forge-lint: disable-next-line(unsafe-typecast)
        if (!active) a.forceEpisodeStart = uint40(start);
        emit ReduceOnlyForced(market, until, msg.sender);
    }

    // ---------------------------------------------------------------- internals

    function _configOf(bytes32 market) private view returns (Config memory c) {
        c = _configs[market];
        if (c.primary == address(0)) revert UnknownMarket(market);
    }

    function _reduceOnly(State memory s) private view returns (bool) {
        return s.status != Status.Ok || block.timestamp < s.forcedUntil || block.timestamp < s.cooldownUntil;
    }

    /// @dev The whole decision, as a pure function of feeds, config and stored state.
    function _evaluate(bytes32 market, Config memory c, State memory s) private view returns (Eval memory e) {
        e.s = State(s.lastGood, s.lastGoodAt, s.forcedUntil, s.cooldownUntil, s.status); // a copy, not an alias
        (Status st, uint256 p, uint256 at) = _readFeeds(c);
        e.observed = p;
        // The reference, when usable, bounds what the feeds may say (read only if configured).
        uint256 ref = c.hasReference && st == Status.Ok ? _referencePrice(market) : 0;
        uint256 boundBps = ref != 0 ? _references[market].boundBps : 0;
        if (ref != 0 && !_within(p, ref, boundBps)) st = Status.Deviation;
        if (st != Status.Ok) {
            e.s.status = st; // keep the last good price
            return e;
        }
        // Roll the anchor at most once per interval, to the last good price.
        Anchor memory a = _anchors[market];
        if (block.timestamp >= uint256(a.at) + c.jumpInterval) {
            a.price = s.lastGood;
            a.at = uint40(block.timestamp);
            e.anchorDirty = true;
        }
        e.a = a;
        if (_within(p, a.price, c.maxJumpBps)) {
            _accept(e, p, at);
            // A candidate can only exist while the market was not Ok: no extra SLOAD on the hot path.
            if (s.status != Status.Ok && _candidates[market].since != 0) e.candidateDirty = true; // clears it
            return e;
        }
        // A jump. Two feeds agreeing corroborate it only with the reference (if any) usable and agreeing:
        // feeds one party may sign alone are not enough.
        if (c.secondary != address(0) && (!c.hasReference || ref != 0)) {
            // Both feeds fresh and agreeing on it: corroborated. Accept now, no new risk for a while.
            e.jumpAccepted = true;
            e.corroborated = true;
            e.jumpFrom = s.lastGood;
            _accept(e, p, at);
            e.a.price = e.s.lastGood;
            e.a.at = uint40(block.timestamp);
            e.anchorDirty = true;
            e.s.cooldownUntil = uint40(block.timestamp + c.jumpCooldown);
            if (s.status != Status.Ok && _candidates[market].since != 0) e.candidateDirty = true;
            return e;
        }
        Candidate memory cand = _candidates[market];
        if (
            cand.since != 0 && at > cand.roundAt && block.timestamp >= uint256(cand.since) + c.jumpCooldown
                && _within(p, cand.price, c.maxJumpBps)
        ) {
            // A later round confirms the candidate after the wait: accept it.
            e.jumpAccepted = true;
            e.jumpFrom = s.lastGood;
            _accept(e, p, at);
            e.a.price = e.s.lastGood;
            e.a.at = uint40(block.timestamp);
            e.anchorDirty = true;
            e.candidateDirty = true; // e.c is zero: clears it
            return e;
        }
        if (cand.since == 0 || !_within(p, cand.price, c.maxJumpBps)) {
            // First sighting, or the price moved away from the candidate: (re)start the wait.
            // Safe casts: _read bounds p by uint128 and `at` by block.timestamp.
            // forge-lint: disable-next-line(unsafe-typecast)
            cand = Candidate({price: uint128(p), since: uint40(block.timestamp), roundAt: uint40(at)});
            e.candidateDirty = true;
        }
        e.c = cand;
        e.s.status = Status.JumpPending;
    }

    function _widen(uint256 low, uint256 high, address feed, uint256 decimals) private view returns (uint256, uint256) {
        (Status st, uint256 p,) = _read(feed, type(uint256).max, decimals);
        if (st != Status.Ok) return (0, type(uint128).max);
        return (p < low ? p : low, p > high ? p : high);
    }

    /// @dev (low, high) widened by `feed`'s latest answer, stale or not; unchanged when it has none.
    function _include(uint256 low, uint256 high, address feed, uint256 decimals)
        private
        view
        returns (uint256, uint256)
    {
        (Status st, uint256 p,) = _read(feed, type(uint256).max, decimals);
        if (st != Status.Ok) return (low, high);
        return (p < low ? p : low, p > high ? p : high);
    }

    /// @dev The reference's price (18 decimals), or 0 when it is unusable (stale, invalid, unset).
    function _referencePrice(bytes32 market) private view returns (uint256 p) {
        Reference memory r = _references[market];
        if (r.feed == address(0)) return 0;
        Status st;
        (st, p,) = _read(r.feed, r.heartbeat, r.decimals);
        if (st != Status.Ok) return 0;
    }

    /// @dev The price the protocol gets: the last good price, clamped into the usable reference's band
    ///      while the market is failing (a held price may not drift from the market beyond the bound).
    function _handedOut(bytes32 market, Config memory c, State memory s) private view returns (uint256 p) {
        p = s.lastGood;
        if (s.status == Status.Ok || !c.hasReference) return p;
        uint256 ref = _referencePrice(market);
        if (ref == 0) return p;
        uint256 b = _references[market].boundBps;
        uint256 lo = ref - (ref * b) / BPS;
        uint256 hi = ref + (ref * b) / BPS;
        if (p < lo) return lo;
        if (p > hi) return hi;
    }

    function _accept(Eval memory e, uint256 p, uint256 at) private pure {
        // Safe casts: _read bounds p by uint128 and `at` by block.timestamp.
        // forge-lint: disable-next-line(unsafe-typecast)
        e.s.lastGood = uint128(p);
        // forge-lint: disable-next-line(unsafe-typecast)
        e.s.lastGoodAt = uint40(at);
        e.s.status = Status.Ok;
    }

    /// @dev |p - ref| <= ref * bps / 1e4, without division.
    function _within(uint256 p, uint256 ref, uint256 bps) private pure returns (bool) {
        uint256 diff = p > ref ? p - ref : ref - p;
        return diff * BPS <= ref * bps;
    }

    /// @dev Reads the primary and, if configured, the secondary; checks freshness and agreement.
    function _readFeeds(Config memory c) private view returns (Status st, uint256 p, uint256 at) {
        (st, p, at) = _read(c.primary, c.primaryHeartbeat, c.primaryDecimals);
        if (st != Status.Ok || c.secondary == address(0)) return (st, p, at);
        (Status st2, uint256 p2,) = _read(c.secondary, c.secondaryHeartbeat, c.secondaryDecimals);
        if (st2 != Status.Ok) return (st2, p, at);
        if (!_within(p2, p, c.maxDeviationBps)) return (Status.Deviation, p, at);
    }

    /// @dev One `latestRoundData` without allocating: never reverts, whatever the feed does.
    function _read(address feed, uint256 heartbeat, uint256 decimals)
        private
        view
        returns (Status, uint256 price18, uint256 updatedAt)
    {
        bool ok;
        int256 answer;
        assembly ("memory-safe") {
            let m := mload(0x40) // scratch above the free pointer; not kept
            mstore(m, LATEST_ROUND_DATA)
            let success := staticcall(gas(), feed, add(m, 0x1c), 0x04, m, 0xa0)
            ok := and(success, gt(returndatasize(), 0x9f)) // separate statement: Yul evaluates right to left
            answer := mload(add(m, 0x20))
            updatedAt := mload(add(m, 0x60))
        }
        if (!ok || answer <= 0 || updatedAt > block.timestamp) return (Status.Invalid, 0, 0);
        if (block.timestamp - updatedAt > heartbeat) return (Status.Stale, 0, 0);
        // Safe cast: answer > 0 was checked above.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 raw = uint256(answer);
        if (decimals <= 18) {
            uint256 scale = 10 ** (18 - decimals);
            if (raw > type(uint128).max / scale) return (Status.Invalid, 0, 0);
            price18 = raw * scale;
        } else {
            price18 = raw / 10 ** (decimals - 18);
            if (price18 == 0 || price18 > type(uint128).max) return (Status.Invalid, 0, 0);
        }
        return (Status.Ok, price18, updatedAt);
    }

    function _validate(bytes32 market, FeedConfig calldata cfg) private pure {
        if (cfg.primary == address(0)) revert InvalidConfig(market, "primary");
        if (cfg.primaryHeartbeat == 0 || cfg.primaryHeartbeat > MAX_HEARTBEAT) {
            revert InvalidConfig(market, "primaryHeartbeat");
        }
        if (cfg.secondary != address(0)) {
            if (cfg.secondary == cfg.primary) revert InvalidConfig(market, "secondary");
            if (cfg.secondaryHeartbeat == 0 || cfg.secondaryHeartbeat > MAX_HEARTBEAT) {
                revert InvalidConfig(market, "secondaryHeartbeat");
            }
            if (cfg.maxDeviationBps == 0 || cfg.maxDeviationBps > MAX_DEVIATION_BPS) {
                revert InvalidConfig(market, "maxDeviationBps");
            }
        }
        if (cfg.maxJumpBps == 0 || cfg.maxJumpBps > BPS) revert InvalidConfig(market, "maxJumpBps");
        if (cfg.jumpInterval == 0 || cfg.jumpInterval > MAX_JUMP_INTERVAL) {
            revert InvalidConfig(market, "jumpInterval");
        }
        if (cfg.jumpCooldown > MAX_JUMP_COOLDOWN) revert InvalidConfig(market, "jumpCooldown");
    }
}
