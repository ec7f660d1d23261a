// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {PauseOps} from "../../guards/PauseOps.sol";
import {RehearsalGuards} from "../RehearsalGuards.sol";

/// @title VulnerableSetterVault
/// @notice VULNERABLE VARIANT, deployed only by the exploit rehearsal. A deposit vault whose `owner` (a
///         strategy manager) may move up to 10% of the funds per call to a strategy. THE BUG:
///         `transferOwnership` lacks its access check, so anyone can make themselves owner and "rebalance"
///         the funds to themselves, 10% per transaction (Parity multisig 2017, Poly Network 2021, and many
///         unprotected-setter incidents since).
/// @dev Guarded, sweeps go through the limiter and the per-transaction outflow cap, and the guardian may
///      pause `OP_ADMIN`. Depositors' withdrawals are limited the same way.
contract VulnerableSetterVault is RehearsalGuards {
    using SafeERC20 for IERC20;

    /// @notice Largest share of the vault one `rebalance` may move (the vault's own, naive, safety cap).
    uint256 public constant MAX_REBALANCE_BPS = 1_000;

    address public owner;
    mapping(address => uint256) public balanceOf;
    uint256 public totalDeposits;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount, bool paidNow);
    event Rebalanced(address indexed strategy, uint256 amount, bool paidNow);

    error NotOwner(address caller);
    error RebalanceTooLarge(uint256 amount, uint256 max);
    error InsufficientBalance(address account, uint256 requested, uint256 balance);

    /// @param asset_ The vault's token.
    /// @param owner_ Initial owner (the strategy manager).
    /// @param governance_ Timelock.
    /// @param guardian_ Watchtower key.
    /// @param guarded_ The guard switch.
    /// @param limiter Limiter parameters.
    /// @param maxTxOutflowBps_ Per-transaction outflow cap.
    constructor(
        IERC20 asset_,
        address owner_,
        address governance_,
        address guardian_,
        bool guarded_,
        AssetConfig memory limiter,
        uint256 maxTxOutflowBps_
    ) RehearsalGuards(asset_, governance_, guardian_, guarded_, limiter, maxTxOutflowBps_) {
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    /// @notice Hand the owner role to `next`. BUG: no `msg.sender == owner` check.
    function transferOwnership(address next) external {
        emit OwnershipTransferred(owner, next);
        owner = next;
    }

    /// @notice Deposit `amount` (approve first).
    function deposit(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.DEPOSIT);
        asset.safeTransferFrom(msg.sender, address(this), amount);
        balanceOf[msg.sender] += amount;
        totalDeposits += amount;
        _recordInflow(amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of the caller's deposit.
    function withdraw(uint256 amount) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 bal = balanceOf[msg.sender];
        if (amount > bal) revert InsufficientBalance(msg.sender, amount, bal);
        balanceOf[msg.sender] = bal - amount;
        totalDeposits -= amount;
        paidNow = _payOut(msg.sender, amount);
        emit Withdrawn(msg.sender, amount, paidNow);
    }

    /// @notice Move `amount` (at most 10% of the vault) to the strategy `to`. Owner only.
    function rebalance(address to, uint256 amount) external invariantGuarded returns (bool paidNow) {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _whenOpen(OP_ADMIN);
        uint256 max = asset.balanceOf(address(this)) * MAX_REBALANCE_BPS / 10_000;
        if (amount > max) revert RebalanceTooLarge(amount, max);
        paidNow = _payOut(to, amount);
        emit Rebalanced(to, amount, paidNow);
    }

    /// @dev No vault-wide invariant: a rebalance legitimately sends funds out to work in a strategy, so
    ///      "tokens held >= deposits" does not hold by design. The limiter bounds how fast funds leave.
    function _checkGuarded() internal view override {}
}
