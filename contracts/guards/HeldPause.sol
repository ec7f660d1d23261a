// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {ScopedPause} from "./ScopedPause.sol";

/// @title HeldPause
/// @notice A ScopedPause whose guardian pause can hold until governance decides. While a guardian episode
///         of a scope runs and governance (a TimelockController) has queued a remedy for that scope, the
///         guardian may hold the pause until the remedy is ready plus `HOLD_AFTER_READY`; anyone ends the
///         hold as soon as the remedy executes, is cancelled or expires. Exits are never in a guardian
///         pause, so they stay open throughout.
/// @dev A remedy is tied to its scope by its salt (`remedySalt`), which only a proposer chooses, so a
///      stolen guardian key alone still pauses a scope at most `guardianMaxPause` per episode (and the
///      guardian, as the timelock's canceller, can only drop a remedy, which ends the hold).
abstract contract HeldPause is ScopedPause {
    /// @notice How long a held pause lasts after its remedy becomes ready (time for anyone to execute it).
    uint256 public constant HOLD_AFTER_READY = 24 hours;
    /// @notice Tag of the salt that marks a timelock operation as the remedy of one scope.
    bytes32 public constant REMEDY_TAG = keccak256("bastion.ScopedPause.remedy");

    /// @notice The guardian pause of `market` is held until `until` while remedy `operationId` is queued.
    event PauseHeld(uint256 indexed market, bytes32 indexed operationId, uint256 until, address indexed by);
    /// @notice The hold of `market` ended because its remedy is no longer queued (executed, cancelled or
    ///         expired); `pauseEnded` is false when the pause had already ended or governance had taken it.
    event HoldReleased(uint256 indexed market, bytes32 indexed operationId, bool pauseEnded, address indexed by);

    /// @notice No queued (waiting or ready) timelock operation `id`: nothing to hold the pause for.
    error NoRemedyQueued(uint256 market, bytes32 id);
    /// @notice The pause of `market` is not held.
    error NotHeld(uint256 market);
    /// @notice The remedy `id` is still queued, so the hold stays.
    error RemedyStillQueued(uint256 market, bytes32 id);

    /// @notice Hold the guardian pause of `market` until its remedy, the single timelock operation
    ///         (`target`, `value`, `data`, `predecessor`, `remedySalt(market)`), is decided: the pause then
    ///         lasts until the operation is ready plus `HOLD_AFTER_READY` (at most MAX_GOVERNANCE_PAUSE from
    ///         now), and `releaseHold` ends it as soon as the operation executes, is cancelled or expires.
    /// @dev Guardian or governance; only a live guardian episode (a governance pause needs no hold). The
    ///      paused ops stay as they are. A remedy of several calls is a batch plus this single marker
    ///      operation with the batch as `predecessor` (any harmless call, such as `remedySalt(market)`):
    ///      the marker can only execute after the batch.
    function holdPause(uint256 market, address target, uint256 value, bytes calldata data, bytes32 predecessor)
        external
        onlyGuardian
    {
        TimelockController tl = TimelockController(payable(governance));
        bytes32 id = tl.hashOperation(target, value, data, predecessor, remedySalt(market));
        if (!tl.isOperationPending(id)) revert NoRemedyQueued(market, id);
        uint256 until = tl.getTimestamp(id) + HOLD_AFTER_READY;
        uint256 maxUntil = block.timestamp + MAX_GOVERNANCE_PAUSE;
        if (until > maxUntil) until = maxUntil;
        until = _holdEpisode(market, until);
        _holds[market] = id;
        emit PauseHeld(market, id, until, msg.sender);
    }

    /// @notice End the hold of `market` once its remedy is no longer queued (executed, cancelled or
    ///         expired). Anyone may call. The pause ends now unless governance has taken it over.
    function releaseHold(uint256 market) external {
        bytes32 id = _holds[market];
        if (id == bytes32(0)) revert NotHeld(market);
        if (TimelockController(payable(governance)).isOperationPending(id)) revert RemedyStillQueued(market, id);
        delete _holds[market];
        emit HoldReleased(market, id, _endHeldEpisode(market), msg.sender);
    }

    /// @notice The salt a timelock operation must carry to count as the remedy of `market`'s pause.
    function remedySalt(uint256 market) public view returns (bytes32) {
        return keccak256(abi.encode(REMEDY_TAG, address(this), market));
    }

    /// @notice The remedy operation the pause of `market` is held for (zero if not held).
    function holdOf(uint256 market) external view returns (bytes32) {
        return _holds[market];
    }
}
