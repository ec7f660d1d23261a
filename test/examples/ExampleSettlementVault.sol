// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {EmergencySettlement} from "../../contracts/guards/EmergencySettlement.sol";

/// @title ExampleSettlementVault
/// @notice The smallest protocol that uses EmergencySettlement: a single-asset vault where each
///         depositor's claim is their deposit. It shows every hook: the mark price is frozen at the
///         trigger, deposits and withdrawals stop, and anyone may trigger once the vault holds less
///         than it owes (for example after an exploit drained it).
contract ExampleSettlementVault is EmergencySettlement {
    using SafeERC20 for IERC20;

    /// @notice The asset held and paid out.
    IERC20 public immutable asset;
    /// @notice A price the vault reports (stands in for a perp's mark prices); frozen at settlement.
    uint256 public markPrice;
    /// @notice Deposited amount per account (its claim).
    mapping(address account => uint256) public deposits;
    /// @notice Sum of all deposits (the total of claims).
    uint256 public totalDeposits;

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event MarkPriceSet(uint256 price);

    constructor(IERC20 asset_, address governance_, address guardian_) GuardAccess(governance_, guardian_) {
        asset = asset_;
    }

    /// @notice Deposit `amount` of the asset.
    function deposit(uint256 amount) external whenNotSettled {
        deposits[msg.sender] += amount;
        totalDeposits += amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of your deposit.
    function withdraw(uint256 amount) external whenNotSettled {
        deposits[msg.sender] -= amount;
        totalDeposits -= amount;
        asset.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// @notice Governance sets the mark price (frozen once settled).
    function setMarkPrice(uint256 price) external onlyGovernance whenNotSettled {
        markPrice = price;
        emit MarkPriceSet(price);
    }

    function _freezePrices() internal override {
        _freezePrice("VAULT", markPrice);
    }

    function _settlementPool() internal view override returns (uint256) {
        return asset.balanceOf(address(this));
    }

    function _totalClaims() internal view override returns (uint256) {
        return totalDeposits;
    }

    function _claimOf(address account) internal view override returns (uint256) {
        return deposits[account];
    }

    function _payout(address to, uint256 amount) internal override {
        asset.safeTransfer(to, amount);
    }

    /// @dev Stored accounting only: a flash loan cannot make the vault look insolvent (it can only add).
    function _isInsolvent() internal view override returns (bool) {
        return asset.balanceOf(address(this)) < totalDeposits;
    }
}
