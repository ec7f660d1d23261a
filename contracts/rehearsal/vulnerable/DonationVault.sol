// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {PauseOps} from "../../guards/PauseOps.sol";
import {RehearsalGuards} from "../RehearsalGuards.sol";

/// @title DonationVault
/// @notice VULNERABLE VARIANT, deployed only by the exploit rehearsal. A share vault that prices shares
///         from its token BALANCE. THE BUG: anyone can move the share price by donating tokens, so the
///         first depositor mints one share, donates, and every later deposit smaller than the donation
///         rounds down to zero shares, its assets going to the first depositor (the ERC-4626 inflation
///         attack; Euler's donateToReserves, Hundred Finance and Sonne's empty-market exchange rates).
/// @dev Guarded, the TxInvariantGuard checks at the end of every deposit that the shares minted are worth
///      what was paid (within 0.1%), and the limiter tracks only real deposits, so a donation can never be
///      withdrawn through it.
contract DonationVault is RehearsalGuards {
    using SafeERC20 for IERC20;
    using TransientSlot for *;

    bytes32 public constant INV_FAIR_MINT = "fair-mint";
    // keccak256("bastion.rehearsal.DonationVault.deposit") - 1 and the next slot: assets paid, shares minted.
    bytes32 private constant PAID_SLOT = 0x1ffcedea63f48b8bc6be90d59b979909622331b4e3a96de31fd5c60ecbb0241f;
    bytes32 private constant MINTED_SLOT = 0x1ffcedea63f48b8bc6be90d59b979909622331b4e3a96de31fd5c60ecbb02420;

    mapping(address => uint256) public sharesOf;
    uint256 public totalShares;

    event Deposited(address indexed account, uint256 assets, uint256 shares);
    event Redeemed(address indexed account, uint256 assets, uint256 shares, bool paidNow);

    error InsufficientShares(address account, uint256 requested, uint256 held);

    /// @param asset_ The vault's token.
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

    /// @notice Assets backing the shares: the token balance (the bug's root).
    function totalAssets() public view returns (uint256) {
        return asset.balanceOf(address(this));
    }

    /// @notice Deposit `assets` for shares, priced from the balance and rounded down.
    function deposit(uint256 assets) external invariantGuarded returns (uint256 shares) {
        _whenOpen(PauseOps.DEPOSIT);
        uint256 supply = totalShares;
        shares = supply == 0 ? assets : assets * supply / totalAssets();
        asset.safeTransferFrom(msg.sender, address(this), assets);
        sharesOf[msg.sender] += shares;
        totalShares = supply + shares;
        _recordInflow(assets);
        if (guarded) {
            PAID_SLOT.asUint256().tstore(PAID_SLOT.asUint256().tload() + assets);
            MINTED_SLOT.asUint256().tstore(MINTED_SLOT.asUint256().tload() + shares);
        }
        emit Deposited(msg.sender, assets, shares);
    }

    /// @notice Redeem `shares` for their part of the balance.
    function redeem(uint256 shares) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 held = sharesOf[msg.sender];
        if (shares > held) revert InsufficientShares(msg.sender, shares, held);
        uint256 assets = shares * totalAssets() / totalShares;
        sharesOf[msg.sender] = held - shares;
        totalShares -= shares;
        paidNow = _payOut(msg.sender, assets);
        emit Redeemed(msg.sender, assets, shares, paidNow);
    }

    /// @notice Value of `shares` at the current price.
    function previewRedeem(uint256 shares) public view returns (uint256) {
        return totalShares == 0 ? 0 : shares * totalAssets() / totalShares;
    }

    function _snapshotGuarded() internal override {
        PAID_SLOT.asUint256().tstore(0);
        MINTED_SLOT.asUint256().tstore(0);
    }

    /// @dev What was paid in this transaction must be matched by shares worth it, within 0.1%.
    function _checkGuarded() internal view override {
        uint256 paid = PAID_SLOT.asUint256().tload();
        if (paid == 0) return;
        uint256 worth = previewRedeem(MINTED_SLOT.asUint256().tload());
        _requireInvariant(worth + paid / 1_000 >= paid, INV_FAIR_MINT);
    }
}
