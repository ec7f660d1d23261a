// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";

/// @title TxInvariantGuard
/// @notice Checks a protocol's invariants at the exit of the OUTERMOST guarded call of a transaction and
///         reverts the whole call tree if one is broken, so the protocol returns to its last secure state.
/// @dev Euler v2's vault connector defers account and vault status checks to the end of a batch; this is
///      the same idea for one protocol, with EIP-1153 transient storage:
///      - a transient depth counter: entry at depth 0 calls `_snapshotInvariants()`, exit back to depth 0
///        calls `_checkInvariants()`. Nested and re-entrant guarded calls are therefore checked once, at
///        the end of the outermost one.
///      - the optional built-in outflow check is per TRANSACTION: the tracked token's balance is recorded
///        at the first guarded entry of the transaction and every outermost exit checks the fall since
///        then, so splitting a drain into several top-level calls of one transaction does not help.
///      - snapshots live in transient slots (`_tsnapshot` / `_tsnapshotOf`), free at the end of the tx.
///      Reentrancy protection is a separate concern: use OpenZeppelin's ReentrancyGuardTransient.
abstract contract TxInvariantGuard {
    using TransientSlot for *;

    // keccak256(abi.encode(uint256(keccak256("bastion.TxInvariantGuard")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant BASE = 0xe9bfb79da2a97f3202a27bf04489c0e64ccf7e96a0c2666c23a5c4fded378700;
    bytes32 private constant DEPTH_SLOT = BASE;
    bytes32 private constant START_BALANCE_SLOT = bytes32(uint256(BASE) + 1);
    bytes32 private constant START_SET_SLOT = bytes32(uint256(BASE) + 2);
    /// @dev User snapshot slots start here: BASE + 16 + key.
    uint256 private constant SNAPSHOT_OFFSET = 16;

    uint256 private constant BPS = 10_000;

    /// @notice Invariant `id` did not hold at the end of the outermost guarded call.
    error InvariantViolated(bytes32 id);
    /// @notice The tracked token's balance fell by more than allowed within one transaction.
    error TxOutflowExceeded(address token, uint256 startBalance, uint256 endBalance, uint256 maxOutflow);

    /// @notice Snapshot at the outermost entry, check at the outermost exit.
    modifier invariantGuarded() {
        uint256 depth = DEPTH_SLOT.asUint256().tload();
        if (depth == 0) _beginGuardedTx();
        DEPTH_SLOT.asUint256().tstore(depth + 1);
        _;
        DEPTH_SLOT.asUint256().tstore(depth);
        if (depth == 0) _endGuardedTx();
    }

    /// @notice Record what the invariants need at the start (override; use `_tsnapshot`).
    function _snapshotInvariants() internal virtual {}

    /// @notice Check the invariants at the end (override; revert, e.g. via `_requireInvariant`).
    function _checkInvariants() internal virtual {}

    /// @notice Optional built-in check: within one transaction the balance of `token` held by this
    ///         contract may fall by at most `maxOutflowBps` of its balance at the transaction's first
    ///         guarded entry. (address(0), any) or maxOutflowBps >= 10_000 disables it.
    /// @dev Measured with balanceOf (two static calls per outermost call): independent of the protocol's
    ///      own accounting, which is what a bug would corrupt.
    function _txOutflowLimit() internal view virtual returns (address token, uint256 maxOutflowBps) {
        return (address(0), 0);
    }

    /// @notice Revert with `InvariantViolated(id)` unless `ok`.
    function _requireInvariant(bool ok, bytes32 id) internal pure {
        if (!ok) revert InvariantViolated(id);
    }

    /// @notice Store `value` in transient snapshot slot `key` (cleared at the end of the transaction).
    function _tsnapshot(uint256 key, uint256 value) internal {
        _snapshotSlot(key).asUint256().tstore(value);
    }

    /// @notice Read transient snapshot slot `key`.
    function _tsnapshotOf(uint256 key) internal view returns (uint256) {
        return _snapshotSlot(key).asUint256().tload();
    }

    /// @notice Depth of guarded calls now on the stack (0 outside any).
    function _guardDepth() internal view returns (uint256) {
        return DEPTH_SLOT.asUint256().tload();
    }

    function _snapshotSlot(uint256 key) private pure returns (bytes32) {
        unchecked {
            return bytes32(uint256(BASE) + SNAPSHOT_OFFSET + key);
        }
    }

    function _beginGuardedTx() private {
        (address token, uint256 maxBps) = _txOutflowLimit();
        if (token != address(0) && maxBps < BPS && !START_SET_SLOT.asBoolean().tload()) {
            START_BALANCE_SLOT.asUint256().tstore(IERC20(token).balanceOf(address(this)));
            START_SET_SLOT.asBoolean().tstore(true);
        }
        _snapshotInvariants();
    }

    function _endGuardedTx() private {
        (address token, uint256 maxBps) = _txOutflowLimit();
        if (token != address(0) && maxBps < BPS) {
            uint256 start = START_BALANCE_SLOT.asUint256().tload();
            uint256 end = IERC20(token).balanceOf(address(this));
            uint256 maxOut = (start * maxBps) / BPS;
            if (end < start && start - end > maxOut) revert TxOutflowExceeded(token, start, end, maxOut);
        }
        _checkInvariants();
    }
}
