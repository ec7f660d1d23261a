// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {OutflowLimiter} from "../guards/OutflowLimiter.sol";
import {PauseOps} from "../guards/PauseOps.sol";
import {ScopedPause} from "../guards/ScopedPause.sol";
import {TxInvariantGuard} from "../guards/TxInvariantGuard.sol";

/// @title RehearsalGuards
/// @notice The guard wiring of every VULNERABLE VARIANT used by the exploit rehearsal: the same three
///         guards the reference protocol uses (OutflowLimiter on the paid-out asset, ScopedPause checks per
///         operation, TxInvariantGuard around every state-changing entry point), with one constructor
///         switch, `guarded`, so that a rehearsal with "defences off" genuinely runs without them.
/// @dev REHEARSAL ONLY. `guarded == false` turns off the automatic guards (limiter, per-transaction
///      outflow cap, invariants); the pause check stays, because a pause is only ever a guardian's decision
///      (a rehearsal with the watchtower needs the lever, one without simply never pulls it).
///      One pause scope per variant: `PauseOps.ALL_MARKETS`.
abstract contract RehearsalGuards is OutflowLimiter, ScopedPause, TxInvariantGuard {
    using SafeERC20 for IERC20;

    /// @notice Custom op code for privileged fund movements (sweeps, rebalances): pausable by the guardian.
    uint8 public constant OP_ADMIN = 12;

    /// @notice Whether the automatic guards (limiter, outflow cap, invariants) are on.
    bool public immutable guarded;
    /// @notice The asset the limiter and the outflow cap watch.
    IERC20 public immutable asset;
    /// @notice Largest share of the asset balance one transaction may take out (guarded only).
    uint256 public immutable maxTxOutflowBps;

    /// @param asset_ The asset paid out by the variant.
    /// @param governance_ The timelock.
    /// @param guardian_ The fast guardian (the watchtower key).
    /// @param guarded_ The switch.
    /// @param limiter Limiter parameters for `asset_` (ignored when not guarded).
    /// @param maxTxOutflowBps_ Per-transaction outflow cap in bps (ignored when not guarded).
    constructor(
        IERC20 asset_,
        address governance_,
        address guardian_,
        bool guarded_,
        AssetConfig memory limiter,
        uint256 maxTxOutflowBps_
    ) GuardAccess(governance_, guardian_) ScopedPause(24 hours, 48 hours, 4 hours) {
        asset = asset_;
        guarded = guarded_;
        maxTxOutflowBps = maxTxOutflowBps_;
        if (guarded_) _registerAsset(address(asset_), limiter, 0);
    }

    /// @dev Revert when `op` is paused (always checked: see the contract's @dev).
    function _whenOpen(uint8 op) internal view {
        _requireNotPaused(op, PauseOps.ALL_MARKETS);
    }

    /// @dev Record an inflow of the asset (after receiving it).
    function _recordInflow(uint256 amount) internal {
        if (guarded) _onTokenInflow(address(asset), amount);
    }

    /// @dev Pay `amount` of the asset to `to` through the limiter; false when it became a claim.
    function _payOut(address to, uint256 amount) internal returns (bool paidNow) {
        if (guarded && !_onTokenOutflow(address(asset), to, amount)) return false;
        asset.safeTransfer(to, amount);
        return true;
    }

    function _payLockedFunds(address token, address recipient, uint256 amount) internal override {
        IERC20(token).safeTransfer(recipient, amount);
    }

    function _txOutflowLimit() internal view override returns (address, uint256) {
        return guarded ? (address(asset), maxTxOutflowBps) : (address(0), 0);
    }

    function _snapshotInvariants() internal override {
        if (guarded) _snapshotGuarded();
    }

    function _checkInvariants() internal view override {
        if (guarded) _checkGuarded();
    }

    /// @dev The variant's own snapshot (transient), taken at the outermost entry when guarded.
    function _snapshotGuarded() internal virtual {}

    /// @dev The variant's own invariants, checked at the outermost exit when guarded.
    function _checkGuarded() internal view virtual;
}
