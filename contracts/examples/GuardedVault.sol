// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {OutflowLimiter} from "../guards/OutflowLimiter.sol";
import {ScopedPause} from "../guards/ScopedPause.sol";
import {PauseOps} from "../guards/PauseOps.sol";

/// @title GuardedVault
/// @notice PlainVault plus Bastion's hot-path guards: the OutflowLimiter (whose tracked liquidity
///         replaces the `totalAssets` counter), a ScopedPause check per operation and OpenZeppelin's
///         ReentrancyGuardTransient. The worked example for integrators and the gas benchmark's subject.
/// @dev In DELAYED mode a withdrawal above the headroom debits the user's balance and becomes a claim,
///      paid later through `claimLockedFunds(asset, user)`.
contract GuardedVault is OutflowLimiter, ScopedPause, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The vault's token.
    IERC20 public immutable asset;
    /// @notice The vault's market id for ScopedPause (the asset's address as a number).
    uint256 public immutable market;
    /// @dev The limiter slot of `asset`, computed once.
    uint256 private immutable _slot;
    /// @notice Deposited balance of each user (withdrawals waiting as claims already deducted).
    mapping(address user => uint256) public balanceOf;

    /// @notice `user` deposited `amount`.
    event Deposit(address indexed user, uint256 amount);
    /// @notice `user` withdrew `amount` (paid now, or locked as a claim: see FundsLocked).
    event Withdraw(address indexed user, uint256 amount);

    /// @param asset_ The vault's token.
    /// @param governance_ Timelock.
    /// @param guardian_ Fast responder.
    /// @param cfg Limiter parameters for `asset_`.
    constructor(IERC20 asset_, address governance_, address guardian_, AssetConfig memory cfg)
        GuardAccess(governance_, guardian_)
        ScopedPause(24 hours, 48 hours, 4 hours)
    {
        asset = asset_;
        market = uint256(uint160(address(asset_)));
        _slot = _limiterSlot(address(asset_));
        _registerAsset(address(asset_), cfg, 0);
    }

    /// @notice Deposit `amount` of the asset (approve first).
    function deposit(uint256 amount) public virtual nonReentrant whenNotPaused(PauseOps.DEPOSIT, market) {
        asset.safeTransferFrom(msg.sender, address(this), amount);
        balanceOf[msg.sender] += amount;
        _onTokenInflowAt(_slot, address(asset), amount);
        emit Deposit(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of the asset: paid now, or (DELAYED mode, over the limit) locked as a
    ///         claim of the caller.
    function withdraw(uint256 amount) public virtual nonReentrant whenNotPaused(PauseOps.WITHDRAW, market) {
        balanceOf[msg.sender] -= amount;
        if (_onTokenOutflowAt(_slot, address(asset), msg.sender, amount)) asset.safeTransfer(msg.sender, amount);
        emit Withdraw(msg.sender, amount);
    }

    /// @notice Sum of user balances: tracked liquidity minus claims not yet released.
    function totalAssets() external view returns (uint256) {
        (uint256 queued, uint256 released) = queueInfo(address(asset));
        return _trackedLiquidity(address(asset)) - (queued - released);
    }

    function _payLockedFunds(address token, address recipient, uint256 amount) internal override {
        IERC20(token).safeTransfer(recipient, amount);
    }
}
