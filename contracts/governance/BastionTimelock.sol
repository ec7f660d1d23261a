// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";

/// @title BastionTimelock
/// @notice OpenZeppelin's TimelockController with three Bastion rules:
///         1. queued operations EXPIRE: an operation that was ready for `gracePeriod` without being
///            executed can never execute (it reads as `Unset`, and may be proposed again with a fresh
///            delay);
///         2. a guardian (a Safe) holds only the CANCELLER role and can cancel any queued operation;
///         3. no canceller can cancel an operation that revokes one of its own roles (otherwise a
///            rogue guardian could veto its own removal forever). The delay and grace period have
///            hard bounds.
///         At construction it accepts governance of the guards it is given: the deployer proposes the
///         timelock's predicted address on each guard, so the hand-over needs no delay and no other
///         address can take the role in between.
/// @dev How expiry hooks into OZ 5: `_beforeCall`/`_afterCall` are private, but both ask
///      `isOperationReady`, which reads the virtual `getOperationState`. Overriding that one function
///      makes `execute`, `executeBatch`, `cancel`, `schedule` (via `isOperation`) and
///      `GovernorTimelockControl` (which maps a non-pending, non-done operation to `Canceled`) all see
///      the expiry, with no copy of OZ's execution logic. `execute`/`executeBatch` are overridden only
///      to revert with a clearer error first. `getTimestamp` still returns the raw ready time. Each
///      operation keeps the grace period in force when it was scheduled.
contract BastionTimelock is TimelockController {
    /// @notice Default minimum delay: 48 hours, long enough for users to exit before a change lands.
    uint256 public constant DEFAULT_DELAY = 48 hours;
    /// @notice Default grace period: 14 days after an operation becomes ready.
    uint256 public constant DEFAULT_GRACE_PERIOD = 14 days;
    /// @notice The delay can never drop below this (governance cannot make itself instant).
    uint256 public constant MIN_DELAY_FLOOR = 1 days;
    /// @notice The delay can never exceed this (governance cannot lock itself out).
    uint256 public constant MAX_DELAY = 30 days;
    /// @notice Bounds of the grace period.
    uint256 public constant MIN_GRACE_PERIOD = 1 days;
    /// @notice Bounds of the grace period.
    uint256 public constant MAX_GRACE_PERIOD = 90 days;

    /// @notice The grace period given to operations scheduled from now on.
    uint256 public gracePeriod;
    /// @dev OZ keeps `_minDelay` private and its `updateDelay` unbounded, so the bounded setter keeps
    ///      its own copy (`getMinDelay` reads it once set).
    uint256 private _boundedMinDelay;
    bool private _boundedMinDelaySet;
    /// @dev Operation id => grace period snapshotted when it was scheduled, so a later change of
    ///      `gracePeriod` never expires (or revives) an operation already queued.
    mapping(bytes32 id => uint256) private _graceOf;

    /// @dev Operation id => the account that may not cancel it (the account whose role it revokes).
    mapping(bytes32 id => address) public protectedFrom;

    /// @notice The grace period changed (only through a timelocked self-call).
    event GracePeriodChange(uint256 oldGracePeriod, uint256 newGracePeriod);
    /// @notice Operation `id` revokes a role of `account`, so `account` cannot cancel it.
    event CancelProtected(bytes32 indexed id, address indexed account);

    /// @notice The operation was ready but its grace period has passed; it can never execute.
    error TimelockOperationExpired(bytes32 id, uint256 expiredAt);
    /// @notice The caller is the account whose role the operation revokes.
    error TimelockCannotCancelOwnRemoval(bytes32 id, address caller);
    /// @notice A delay or grace period outside its hard bounds.
    error TimelockValueOutOfBounds(uint256 value, uint256 min, uint256 max);

    /// @param minDelay Initial minimum delay (use DEFAULT_DELAY); within [MIN_DELAY_FLOOR, MAX_DELAY].
    /// @param proposers Accounts that may schedule (OZ also makes them cancellers).
    /// @param executors Accounts that may execute; include address(0) to let anyone execute.
    /// @param guardian The Safe that may cancel queued operations (CANCELLER only); zero for none.
    /// @param admin Optional bootstrap admin (renounce after setup); zero for none.
    /// @param guards Guards whose governance this timelock takes now; each must have proposed this
    ///        timelock's address (`transferGovernance`), else the deployment reverts. Empty for none.
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address guardian,
        address admin,
        GuardAccess[] memory guards
    ) TimelockController(minDelay, proposers, executors, admin) {
        _checkBounds(minDelay, MIN_DELAY_FLOOR, MAX_DELAY);
        gracePeriod = DEFAULT_GRACE_PERIOD;
        emit GracePeriodChange(0, DEFAULT_GRACE_PERIOD);
        if (guardian != address(0)) _grantRole(CANCELLER_ROLE, guardian);
        for (uint256 i; i < guards.length; ++i) {
            guards[i].acceptGovernance();
        }
    }

    /// @notice State of an operation; a ready operation whose grace period has passed reads `Unset`.
    /// @param id The operation id.
    function getOperationState(bytes32 id) public view override returns (OperationState) {
        OperationState state = super.getOperationState(id);
        if (state == OperationState.Ready && block.timestamp >= getTimestamp(id) + _graceOf[id]) {
            return OperationState.Unset;
        }
        return state;
    }

    /// @notice Whether operation `id` was queued, became ready and then expired unexecuted.
    /// @param id The operation id.
    function isOperationExpired(bytes32 id) public view returns (bool) {
        uint256 ts = getTimestamp(id);
        return ts > _DONE_TIMESTAMP && block.timestamp >= ts + _graceOf[id];
    }

    /// @notice The time from which operation `id` can no longer execute (0 if unset or done).
    /// @param id The operation id.
    function expiresAt(bytes32 id) external view returns (uint256) {
        uint256 ts = getTimestamp(id);
        return ts > _DONE_TIMESTAMP ? ts + _graceOf[id] : 0;
    }

    /// @notice Schedule a single call. A call that revokes a role of `x` on this timelock cannot be
    ///         cancelled by `x`.
    /// @inheritdoc TimelockController
    function schedule(
        address target,
        uint256 value,
        bytes calldata data,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        super.schedule(target, value, data, predecessor, salt, delay);
        bytes32 id = hashOperation(target, value, data, predecessor, salt);
        _graceOf[id] = gracePeriod;
        address removed = _accountRemovedBy(target, data);
        if (removed != address(0)) {
            protectedFrom[id] = removed;
            emit CancelProtected(id, removed);
        }
    }

    /// @notice Schedule a batch; it expires like a single call. Batches get no removal protection:
    ///         schedule a role revocation as a single call.
    /// @inheritdoc TimelockController
    function scheduleBatch(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt,
        uint256 delay
    ) public override {
        super.scheduleBatch(targets, values, payloads, predecessor, salt, delay);
        _graceOf[hashOperationBatch(targets, values, payloads, predecessor, salt)] = gracePeriod;
    }

    /// @notice Cancel a pending operation; an account cannot cancel the revocation of its own role.
    /// @inheritdoc TimelockController
    function cancel(bytes32 id) public override {
        address caller = _msgSender();
        if (protectedFrom[id] == caller) revert TimelockCannotCancelOwnRemoval(id, caller);
        super.cancel(id);
    }

    /// @notice Execute a ready, unexpired single-call operation.
    /// @inheritdoc TimelockController
    function execute(address target, uint256 value, bytes calldata payload, bytes32 predecessor, bytes32 salt)
        public
        payable
        override
    {
        _revertIfExpired(hashOperation(target, value, payload, predecessor, salt));
        super.execute(target, value, payload, predecessor, salt);
    }

    /// @notice Execute a ready, unexpired batch operation.
    /// @inheritdoc TimelockController
    function executeBatch(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata payloads,
        bytes32 predecessor,
        bytes32 salt
    ) public payable override {
        _revertIfExpired(hashOperationBatch(targets, values, payloads, predecessor, salt));
        super.executeBatch(targets, values, payloads, predecessor, salt);
    }

    /// @notice Change the minimum delay, within [MIN_DELAY_FLOOR, MAX_DELAY]; only via a timelocked self-call.
    /// @param newDelay The new minimum delay in seconds.
    function updateDelay(uint256 newDelay) external override {
        _onlySelf();
        _checkBounds(newDelay, MIN_DELAY_FLOOR, MAX_DELAY);
        emit MinDelayChange(getMinDelay(), newDelay);
        _setMinDelay(newDelay);
    }

    /// @notice Change the grace period, within [MIN_GRACE_PERIOD, MAX_GRACE_PERIOD]; only via a timelocked
    ///         self-call. Applies to operations scheduled afterwards.
    /// @param newGracePeriod The new grace period in seconds.
    function updateGracePeriod(uint256 newGracePeriod) external {
        _onlySelf();
        _checkBounds(newGracePeriod, MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
        emit GracePeriodChange(gracePeriod, newGracePeriod);
        gracePeriod = newGracePeriod;
    }

    // ---------------------------------------------------------------- internals

    /// @inheritdoc TimelockController
    function getMinDelay() public view override returns (uint256) {
        return _boundedMinDelaySet ? _boundedMinDelay : super.getMinDelay();
    }

    function _setMinDelay(uint256 newDelay) private {
        _boundedMinDelay = newDelay;
        _boundedMinDelaySet = true;
    }

    function _onlySelf() private view {
        address sender = _msgSender();
        if (sender != address(this)) revert TimelockUnauthorizedCaller(sender);
    }

    function _revertIfExpired(bytes32 id) private view {
        uint256 ts = getTimestamp(id);
        if (ts > _DONE_TIMESTAMP && block.timestamp >= ts + _graceOf[id]) {
            revert TimelockOperationExpired(id, ts + _graceOf[id]);
        }
    }

    /// @dev Returns the account whose role `data` revokes when sent to this timelock, else 0.
    function _accountRemovedBy(address target, bytes calldata data) private view returns (address) {
        if (target != address(this) || data.length != 68) return address(0);
        if (bytes4(data[:4]) != IAccessControl.revokeRole.selector) return address(0);
        (, address account) = abi.decode(data[4:], (bytes32, address));
        return account;
    }

    function _checkBounds(uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert TimelockValueOutOfBounds(value, min, max);
    }
}
