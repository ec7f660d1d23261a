// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {PauseOps} from "../../guards/PauseOps.sol";
import {RehearsalGuards} from "../RehearsalGuards.sol";

/// @title VulnerableCallbackVault
/// @notice VULNERABLE VARIANT, deployed only by the exploit rehearsal. A deposit vault for a token with
///         a receive hook. THE BUG: `withdrawAll` pays before it zeroes the caller's balance and has no
///         reentrancy lock, so a recipient that is called back by the token re-enters and is paid again
///         (The DAO; imBTC/Lendf.me, ERC-777 hooks).
/// @dev Guarded, the TxInvariantGuard checks at the end of the outermost call that the caller was paid no
///      more than its balance at entry (plus what it deposited in the same transaction): re-entrant frames
///      are nested inside the outermost one, so the check sees their payments and reverts the whole tree.
contract VulnerableCallbackVault is RehearsalGuards {
    using SafeERC20 for IERC20;
    using TransientSlot for *;

    bytes32 public constant INV_PAID_WITHIN_BALANCE = "paid-within-balance";
    // Transient counters: keccak256("bastion.rehearsal.VulnerableCallbackVault.paid" / ".deposited") - 1.
    bytes32 private constant PAID_SLOT = 0xee8ed51e4934b53a48ffe1c5399a7516ee233134a43592681426e46b188ac8c1;
    bytes32 private constant DEPOSITED_SLOT = 0x54fb69530cf2b8b0e58f91fa479781adcebf12802b2dc3b7c41d996b1234d7b6;

    mapping(address => uint256) public balanceOf;
    uint256 public totalDeposits;

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount, bool paidNow);

    /// @param asset_ The hook token.
    /// @param governance_ Timelock.
    /// @param guardian_ Watchtower key.
    /// @param guarded_ The guard switch.
    /// @param limiter Limiter parameters.
    /// @param maxTxOutflowBps_ Per-transaction outflow cap.
    constructor(
        IERC20 asset_,
        address governance_,
        address guardian_,
        bool guarded_,
        AssetConfig memory limiter,
        uint256 maxTxOutflowBps_
    ) RehearsalGuards(asset_, governance_, guardian_, guarded_, limiter, maxTxOutflowBps_) {}

    /// @notice Deposit `amount` of the token (approve first).
    function deposit(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.DEPOSIT);
        asset.safeTransferFrom(msg.sender, address(this), amount);
        balanceOf[msg.sender] += amount;
        totalDeposits += amount;
        _recordInflow(amount);
        if (guarded) DEPOSITED_SLOT.asUint256().tstore(DEPOSITED_SLOT.asUint256().tload() + amount);
        emit Deposited(msg.sender, amount);
    }

    /// @notice Withdraw the caller's whole balance. BUG: pays first, zeroes after, no lock.
    function withdrawAll() external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 amount = balanceOf[msg.sender];
        if (guarded) PAID_SLOT.asUint256().tstore(PAID_SLOT.asUint256().tload() + amount);
        paidNow = _payOut(msg.sender, amount); // the token calls the recipient back here
        balanceOf[msg.sender] = 0;
        totalDeposits -= amount;
        emit Withdrawn(msg.sender, amount, paidNow);
    }

    function _snapshotGuarded() internal override {
        _tsnapshot(0, balanceOf[msg.sender]);
        PAID_SLOT.asUint256().tstore(0);
        DEPOSITED_SLOT.asUint256().tstore(0);
    }

    function _checkGuarded() internal view override {
        uint256 entitled = _tsnapshotOf(0) + DEPOSITED_SLOT.asUint256().tload();
        _requireInvariant(PAID_SLOT.asUint256().tload() <= entitled, INV_PAID_WITHIN_BALANCE);
    }
}
