// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title PlainVault
/// @notice The gas BASELINE: a minimal single-asset ERC-20 vault with per-user balances and a
///         `totalAssets` counter, no guard at all. GuardedVault is the same vault with Bastion's guards.
contract PlainVault {
    using SafeERC20 for IERC20;

    /// @notice The vault's token.
    IERC20 public immutable asset;
    /// @notice Deposited balance of each user.
    mapping(address user => uint256) public balanceOf;
    /// @notice Sum of all balances.
    uint256 public totalAssets;

    /// @notice `user` deposited `amount`.
    event Deposit(address indexed user, uint256 amount);
    /// @notice `user` withdrew `amount`.
    event Withdraw(address indexed user, uint256 amount);

    /// @param asset_ The vault's token.
    constructor(IERC20 asset_) {
        asset = asset_;
    }

    /// @notice Deposit `amount` of the asset (approve first).
    function deposit(uint256 amount) external {
        asset.safeTransferFrom(msg.sender, address(this), amount);
        balanceOf[msg.sender] += amount;
        totalAssets += amount;
        emit Deposit(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of the asset.
    function withdraw(uint256 amount) external {
        balanceOf[msg.sender] -= amount;
        totalAssets -= amount;
        asset.safeTransfer(msg.sender, amount);
        emit Withdraw(msg.sender, amount);
    }
}
