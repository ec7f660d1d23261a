// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "../guards/GuardAccess.sol";

/// @title ParameterRegistry
/// @notice Risk parameters with hard bounds, where tightening is fast and loosening is slow (the Aave
///         risk-steward pattern).
///         - Governance (the timelock) registers a parameter with its rules, sets its base value
///           anywhere within bounds, and is the only party that can loosen anything or change rules.
///         - The RISK agent (the risk engine's key) may tighten the base at once, at most `maxStep` per
///           change and one change per `minInterval`; it can never loosen.
///         - RISK or the guardian may place an emergency tightening on top of the base that EXPIRES
///           after at most `maxTtl` unless renewed; afterwards the effective value is the base again.
///           Emergency tightenings obey the same step and interval as RISK.
///         Every update carries the hash of the risk engine's simulation report in its event.
/// @dev Keys: `keyOf(market, param)` = keccak256(abi.encode(market, param)), for example
///      keyOf("ETH-PERP", keccak256("maintenanceMarginBps")); protocol-wide parameters use market 0.
///      Any bytes32 works; that helper is the convention. Values are uint104 (max ~2.0e31), enough for
///      bps, 18-decimal ratios and open-interest caps up to 2e13 tokens of 18 decimals.
///      The hot path `get` is one SLOAD: base, override and expiry share a slot.
contract ParameterRegistry is GuardAccess {
    /// @notice Longest emergency tightening any parameter may allow.
    uint256 public constant MAX_TTL_CAP = 30 days;
    /// @notice After RISK tightens a base, how long `getWithGrace` still returns the value from before it:
    ///         time for existing positions to top up before the tighter value can liquidate them.
    uint256 public constant TIGHTEN_GRACE = 12 hours;

    /// @notice What an update did (in `ParameterUpdated`).
    enum Action {
        Registered, // governance registered the parameter
        BaseSet, // governance set the base (may loosen)
        Tightened, // RISK tightened the base (permanent, step-bounded)
        EmergencyTightened, // RISK or guardian placed a new expiring override
        EmergencyRenewed, // RISK or guardian extended a live override at the same value
        OverrideCleared // governance removed the override, or a base change made it moot
    }

    /// @notice Rules of one parameter, set only by governance.
    /// @param min Hard lower bound (inclusive).
    /// @param max Hard upper bound (inclusive).
    /// @param maxStep Largest change of the effective value per non-governance update.
    /// @param minInterval Least time between two non-governance changes of the value.
    /// @param maxTtl Longest life of one emergency tightening (renewable), at most MAX_TTL_CAP.
    /// @param higherIsTighter True when a higher value is safer (margins), false otherwise (OI caps).
    struct Rules {
        uint104 min;
        uint104 max;
        uint40 lastChange; // time of the last non-governance change (0 = never)
        bool higherIsTighter;
        uint104 maxStep;
        uint32 minInterval;
        uint32 maxTtl;
    }

    /// @dev The hot slot: everything `get` needs.
    struct Value {
        uint104 base;
        uint104 overrideValue;
        uint40 overrideUntil;
        bool registered;
    }

    /// @notice The risk engine's key: may tighten within the rules, never loosen.
    address public risk;

    mapping(bytes32 key => Value) private _values;
    mapping(bytes32 key => Rules) private _rules;
    /// @dev Effective value before the last fast (RISK or guardian) tightening, and until when it holds
    ///      for `getWithGrace`.
    mapping(bytes32 key => Grace) private _graces;

    /// @dev One slot.
    struct Grace {
        uint104 before;
        uint40 until;
    }

    /// @notice A parameter's value changed (or was registered); `reportHash` is the simulation report.
    event ParameterUpdated(
        bytes32 indexed key,
        Action indexed action,
        address indexed by,
        uint256 base,
        uint256 overrideValue,
        uint256 overrideUntil,
        bytes32 reportHash
    );
    /// @notice Governance set the rules of a parameter.
    event RulesSet(
        bytes32 indexed key,
        uint256 min,
        uint256 max,
        uint256 maxStep,
        uint256 minInterval,
        uint256 maxTtl,
        bool higherIsTighter,
        bytes32 reportHash
    );
    /// @notice Liquidations use `looserValue` for `key` until `until` (a fast tightening's grace).
    event TighteningGrace(bytes32 indexed key, uint256 looserValue, uint256 until);
    /// @notice Governance replaced the RISK agent.
    event RiskChanged(address indexed previous, address indexed next);

    /// @notice `key` was never registered; register it through governance first.
    error UnknownParameter(bytes32 key);
    /// @notice `key` is already registered; use setRules / setBase to change it.
    error AlreadyRegistered(bytes32 key);
    /// @notice Rules are inconsistent: need min <= max <= 2^104-1, maxStep > 0, 0 < maxTtl <= MAX_TTL_CAP.
    error InvalidRules(bytes32 key);
    /// @notice `value` is outside [min, max] of `key`.
    error OutOfBounds(bytes32 key, uint256 value, uint256 min, uint256 max);
    /// @notice The change from `from` to `to` loosens `key` (or does not move it); only governance loosens.
    error NotTighter(bytes32 key, uint256 from, uint256 to);
    /// @notice The change moves `key` by more than `maxStep`.
    error StepTooLarge(bytes32 key, uint256 from, uint256 to, uint256 maxStep);
    /// @notice The last change of `key` is too recent; retry at `nextAllowed`.
    error TooSoon(bytes32 key, uint256 nextAllowed);
    /// @notice `ttl` is zero or above the parameter's `maxTtl`.
    error InvalidTtl(bytes32 key, uint256 ttl, uint256 maxTtl);
    /// @notice The new rules would flip direction or strand a live override outside bounds; clear it first.
    error LiveOverrideConflict(bytes32 key);
    /// @notice The caller is not the RISK agent.
    error NotRisk(address caller);
    /// @notice The caller is neither the RISK agent nor the guardian.
    error NotRiskOrGuardian(address caller);

    /// @param governance_ The timelock.
    /// @param guardian_ The guardian Safe (may place expiring emergency tightenings).
    /// @param risk_ The risk engine's key (zero for none yet).
    constructor(address governance_, address guardian_, address risk_) GuardAccess(governance_, guardian_) {
        risk = risk_;
        emit RiskChanged(address(0), risk_);
    }

    // ---------------------------------------------------------------- hot path

    /// @notice The effective value of `key`: the live emergency override if any, else the base.
    /// @dev One SLOAD. Reverts on an unknown key so a typo can never read as zero.
    /// @param key The parameter key.
    function get(bytes32 key) external view returns (uint256) {
        Value memory v = _values[key];
        if (!v.registered) revert UnknownParameter(key);
        return block.timestamp < v.overrideUntil ? v.overrideValue : v.base;
    }

    // ---------------------------------------------------------------- views

    /// @notice The conventional key of parameter `param` of market `market` (market 0: protocol-wide).
    /// @param market Market id, for example bytes32("ETH-PERP").
    /// @param param Parameter id, for example keccak256("maintenanceMarginBps").
    function keyOf(bytes32 market, bytes32 param) external pure returns (bytes32) {
        return keccak256(abi.encode(market, param));
    }

    /// @notice Full state of `key`.
    /// @param key The parameter key.
    /// @return effective What `get` returns.
    /// @return base The governance/RISK base value.
    /// @return overrideValue The emergency value (meaningful while `overrideUntil` is in the future).
    /// @return overrideUntil When the emergency tightening expires (0 if none was ever set).
    function state(bytes32 key)
        external
        view
        returns (uint256 effective, uint256 base, uint256 overrideValue, uint256 overrideUntil)
    {
        Value memory v = _loadValue(key);
        effective = block.timestamp < v.overrideUntil ? v.overrideValue : v.base;
        return (effective, v.base, v.overrideValue, v.overrideUntil);
    }

    /// @notice The value liquidations use (eligibility and penalty): the base, never an emergency override,
    ///         so a guardian's or RISK's `emergencyTighten` constrains only new risk and can never make an
    ///         existing position liquidatable nor raise its penalty; for TIGHTEN_GRACE after RISK tightens
    ///         the base it is still the looser value from before. Governance's `setBase` applies at once.
    ///         One more SLOAD than `get`.
    /// @param key The parameter key.
    function getWithGrace(bytes32 key) external view returns (uint256 value) {
        Value memory v = _values[key];
        if (!v.registered) revert UnknownParameter(key);
        value = v.base;
        Grace memory g = _graces[key];
        if (block.timestamp < g.until && _isTighter(_rules[key].higherIsTighter, value, g.before)) value = g.before;
    }

    /// @notice The rules of `key`.
    /// @param key The parameter key.
    function rulesOf(bytes32 key) external view returns (Rules memory) {
        _loadValue(key);
        return _rules[key];
    }

    /// @notice Whether `key` is registered.
    /// @param key The parameter key.
    function isRegistered(bytes32 key) external view returns (bool) {
        return _values[key].registered;
    }

    // ---------------------------------------------------------------- governance

    /// @notice Register a parameter with its rules and base value.
    /// @param key The parameter key.
    /// @param rules The rules (`lastChange` is ignored).
    /// @param base Initial value, within bounds.
    /// @param reportHash Hash of the report justifying the rules.
    function register(bytes32 key, Rules calldata rules, uint256 base, bytes32 reportHash) external onlyGovernance {
        if (_values[key].registered) revert AlreadyRegistered(key);
        _validateRules(key, rules);
        _checkBounds(key, base, rules.min, rules.max);
        _storeRules(key, rules, 0, reportHash);
        // Safe cast: bounded by rules.max <= type(uint104).max.
        // forge-lint: disable-next-line(unsafe-typecast)
        _values[key] = Value({base: uint104(base), overrideValue: 0, overrideUntil: 0, registered: true});
        emit ParameterUpdated(key, Action.Registered, msg.sender, base, 0, 0, reportHash);
    }

    /// @notice Change the rules of `key`. The base must already fit the new bounds, and a live
    ///         override must fit them and keep its direction (clear it first otherwise).
    /// @param key The parameter key.
    /// @param rules The new rules (`lastChange` is ignored and kept).
    /// @param reportHash Hash of the report justifying the change.
    function setRules(bytes32 key, Rules calldata rules, bytes32 reportHash) external onlyGovernance {
        Value memory v = _loadValue(key);
        _validateRules(key, rules);
        _checkBounds(key, v.base, rules.min, rules.max);
        if (block.timestamp < v.overrideUntil) {
            bool inBounds = v.overrideValue >= rules.min && v.overrideValue <= rules.max;
            if (!inBounds || rules.higherIsTighter != _rules[key].higherIsTighter) {
                revert LiveOverrideConflict(key);
            }
        }
        _storeRules(key, rules, _rules[key].lastChange, reportHash);
    }

    /// @notice Set the base value of `key` anywhere within bounds (the only way to loosen). An
    ///         override that is no longer tighter than the new base is cleared.
    /// @param key The parameter key.
    /// @param value The new base.
    /// @param reportHash Hash of the report justifying the change.
    function setBase(bytes32 key, uint256 value, bytes32 reportHash) external onlyGovernance {
        Value memory v = _loadValue(key);
        Rules memory r = _rules[key];
        _checkBounds(key, value, r.min, r.max);
        // Safe cast: bounded by r.max <= type(uint104).max.
        // forge-lint: disable-next-line(unsafe-typecast)
        v.base = uint104(value);
        _writeBase(key, v, r, Action.BaseSet, reportHash);
    }

    /// @notice Remove a live emergency tightening of `key` before it expires.
    /// @param key The parameter key.
    /// @param reportHash Hash of the report justifying the change.
    function clearOverride(bytes32 key, bytes32 reportHash) external onlyGovernance {
        Value memory v = _loadValue(key);
        v.overrideValue = 0;
        v.overrideUntil = 0;
        _values[key] = v;
        emit ParameterUpdated(key, Action.OverrideCleared, msg.sender, v.base, 0, 0, reportHash);
    }

    /// @notice Replace the RISK agent (zero removes it).
    /// @param next The new RISK agent.
    function setRisk(address next) external onlyGovernance {
        emit RiskChanged(risk, next);
        risk = next;
    }

    // ---------------------------------------------------------------- RISK and guardian

    /// @notice RISK: tighten the base of `key` permanently, by at most `maxStep`, at most once per
    ///         `minInterval`. Only governance can loosen it again.
    /// @param key The parameter key.
    /// @param value The new, tighter base.
    /// @param reportHash Hash of the risk engine's simulation report.
    function tighten(bytes32 key, uint256 value, bytes32 reportHash) external {
        if (msg.sender != risk || risk == address(0)) revert NotRisk(msg.sender);
        Value memory v = _loadValue(key);
        Rules memory r = _rules[key];
        _checkStep(key, r, v.base, value);
        _noteGrace(key, r, block.timestamp < v.overrideUntil ? v.overrideValue : v.base);
        _rules[key].lastChange = uint40(block.timestamp);
        // Safe cast: bounded by r.max <= type(uint104).max.
        // forge-lint: disable-next-line(unsafe-typecast)
        v.base = uint104(value);
        _writeBase(key, v, r, Action.Tightened, reportHash);
    }

    /// @notice RISK or guardian: tighten the effective value of `key` for `ttl` seconds, by at most
    ///         `maxStep` from the current effective value, at most once per `minInterval`. Calling it
    ///         again with the live override's value renews it (no step, no interval: nothing moves).
    ///         A renewal or replacement never ends a live override earlier: its end is the later of the
    ///         current end and now + `ttl` (only governance, through the timelock, loosens).
    ///         When it expires, `get` returns the base again.
    /// @param key The parameter key.
    /// @param value The emergency value, tighter than the current effective value (or equal to renew).
    /// @param ttl Life of the tightening from now, in (0, maxTtl].
    /// @param reportHash Hash of the risk engine's report (or of the incident, for the guardian).
    function emergencyTighten(bytes32 key, uint256 value, uint256 ttl, bytes32 reportHash) external {
        if (msg.sender != guardian && msg.sender != governance && (msg.sender != risk || risk == address(0))) {
            revert NotRiskOrGuardian(msg.sender);
        }
        Value memory v = _loadValue(key);
        Rules memory r = _rules[key];
        if (ttl == 0 || ttl > r.maxTtl) revert InvalidTtl(key, ttl, r.maxTtl);
        bool live = block.timestamp < v.overrideUntil;
        Action action;
        if (live && value == v.overrideValue) {
            action = Action.EmergencyRenewed;
        } else {
            _checkStep(key, r, live ? v.overrideValue : v.base, value);
            if (msg.sender != governance) _noteGrace(key, r, live ? v.overrideValue : v.base);
            _rules[key].lastChange = uint40(block.timestamp);
            // Safe cast: bounded by r.max <= type(uint104).max.
            // forge-lint: disable-next-line(unsafe-typecast)
            v.overrideValue = uint104(value);
            action = Action.EmergencyTightened;
        }
        // Never earlier than a live override's end: only governance shortens a tightening (audit F4).
        uint256 until = block.timestamp + ttl;
        if (live && v.overrideUntil > until) until = v.overrideUntil;
        // Safe cast: ttl <= MAX_TTL_CAP.
        // forge-lint: disable-next-line(unsafe-typecast)
        v.overrideUntil = uint40(until);
        _values[key] = v;
        emit ParameterUpdated(key, action, msg.sender, v.base, v.overrideValue, v.overrideUntil, reportHash);
    }

    // ---------------------------------------------------------------- internals

    /// @dev A fast tightening from `effectiveBefore`: liquidations keep the loosest value of the grace
    ///      (an earlier one still running keeps its own, looser, value) for TIGHTEN_GRACE from now.
    function _noteGrace(bytes32 key, Rules memory r, uint256 effectiveBefore) private {
        Grace memory g = _graces[key];
        uint256 before = effectiveBefore;
        if (block.timestamp < g.until && _isTighter(r.higherIsTighter, before, g.before)) before = g.before;
        // Safe casts: a registered value (<= 2^104 - 1); now + 12 h.
        // forge-lint: disable-next-line(unsafe-typecast)
        _graces[key] = Grace(uint104(before), uint40(block.timestamp + TIGHTEN_GRACE));
        emit TighteningGrace(key, before, block.timestamp + TIGHTEN_GRACE);
    }

    function _loadValue(bytes32 key) private view returns (Value memory v) {
        v = _values[key];
        if (!v.registered) revert UnknownParameter(key);
    }

    /// @dev Writes a new base; drops a live override that is no longer strictly tighter than it.
    function _writeBase(bytes32 key, Value memory v, Rules memory r, Action action, bytes32 reportHash) private {
        bool cleared;
        if (v.overrideUntil != 0 && !_isTighter(r.higherIsTighter, v.overrideValue, v.base)) {
            cleared = block.timestamp < v.overrideUntil;
            v.overrideValue = 0;
            v.overrideUntil = 0;
        }
        _values[key] = v;
        emit ParameterUpdated(key, action, msg.sender, v.base, v.overrideValue, v.overrideUntil, reportHash);
        if (cleared) emit ParameterUpdated(key, Action.OverrideCleared, msg.sender, v.base, 0, 0, reportHash);
    }

    /// @dev Non-governance change rules: strictly tighter, within bounds, within one step, not too soon.
    function _checkStep(bytes32 key, Rules memory r, uint256 from, uint256 to) private view {
        if (!_isTighter(r.higherIsTighter, to, from)) revert NotTighter(key, from, to);
        _checkBounds(key, to, r.min, r.max);
        uint256 delta = to > from ? to - from : from - to;
        if (delta > r.maxStep) revert StepTooLarge(key, from, to, r.maxStep);
        if (r.lastChange != 0) {
            uint256 next = uint256(r.lastChange) + r.minInterval;
            if (block.timestamp < next) revert TooSoon(key, next);
        }
    }

    function _isTighter(bool higherIsTighter, uint256 a, uint256 b) private pure returns (bool) {
        return higherIsTighter ? a > b : a < b;
    }

    function _checkBounds(bytes32 key, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert OutOfBounds(key, value, min, max);
    }

    function _validateRules(bytes32 key, Rules calldata r) private pure {
        if (r.min > r.max || r.maxStep == 0 || r.maxTtl == 0 || r.maxTtl > MAX_TTL_CAP) revert InvalidRules(key);
    }

    function _storeRules(bytes32 key, Rules calldata r, uint40 lastChange, bytes32 reportHash) private {
        Rules memory stored = r;
        stored.lastChange = lastChange;
        _rules[key] = stored;
        emit RulesSet(key, r.min, r.max, r.maxStep, r.minInterval, r.maxTtl, r.higherIsTighter, reportHash);
    }
}
