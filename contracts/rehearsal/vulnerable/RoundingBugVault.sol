// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {PauseOps} from "../../guards/PauseOps.sol";
import {RehearsalGuards} from "../RehearsalGuards.sol";

/// @title RoundingBugVault
/// @notice VULNERABLE VARIANT, deployed only by the exploit rehearsal. A unit-based fund: deposits buy
///         whole units at the net asset value per unit (NAV), redemptions sell them. THE BUG: `withdraw`
///         (by asset amount) computes the units to burn rounding DOWN instead of up, so asking for just
///         under two units' worth burns one unit. Each call takes at most one unit's value from the other
///         holders: small enough to pass every per-transaction check, repeated over many transactions
///         (the rounding-direction bugs of Compound forks, ERC-4626 vaults and Balancer's 2025 incident).
/// @dev Guarded, the TxInvariantGuard checks the reference protocol's kind of invariant (tokens held cover
///      the books), which a rounding bug that shifts value between holders never breaks: a monitor that
///      tracks the NAV per unit is what sees it.
contract RoundingBugVault is RehearsalGuards {
    using SafeERC20 for IERC20;

    bytes32 public constant INV_SOLVENT = "solvent";

    /// @notice NAV of the first unit, in asset base units.
    uint256 public immutable initialUnitPrice;
    mapping(address => uint256) public unitsOf;
    uint256 public totalUnits;
    /// @notice Assets the books say the fund manages.
    uint256 public managedAssets;

    event Deposited(address indexed account, uint256 assets, uint256 units);
    event Withdrawn(address indexed account, uint256 assets, uint256 units, bool paidNow);

    error ZeroUnits(uint256 assets);
    error InsufficientUnits(address account, uint256 requested, uint256 held);

    /// @param asset_ The fund's asset.
    /// @param initialUnitPrice_ NAV of the first unit, in asset base units.
    /// @param governance_ Timelock.
    /// @param guardian_ Watchtower key.
    /// @param guarded_ The guard switch.
    /// @param limiter Limiter parameters.
    /// @param maxTxOutflowBps_ Per-transaction outflow cap.
    constructor(
        IERC20 asset_,
        uint256 initialUnitPrice_,
        address governance_,
        address guardian_,
        bool guarded_,
        AssetConfig memory limiter,
        uint256 maxTxOutflowBps_
    ) RehearsalGuards(asset_, governance_, guardian_, guarded_, limiter, maxTxOutflowBps_) {
        initialUnitPrice = initialUnitPrice_;
    }

    /// @notice Buy whole units with `assets` (the remainder below one unit stays with the fund).
    function deposit(uint256 assets) external invariantGuarded returns (uint256 units) {
        _whenOpen(PauseOps.DEPOSIT);
        units = totalUnits == 0 ? assets / initialUnitPrice : assets * totalUnits / managedAssets;
        if (units == 0) revert ZeroUnits(assets);
        asset.safeTransferFrom(msg.sender, address(this), assets);
        unitsOf[msg.sender] += units;
        totalUnits += units;
        managedAssets += assets;
        _recordInflow(assets);
        emit Deposited(msg.sender, assets, units);
    }

    /// @notice Sell `units` units at the NAV (rounded down: correct).
    function redeem(uint256 units) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 assets = units * managedAssets / totalUnits;
        paidNow = _exit(units, assets);
    }

    /// @notice Take out `assets`, burning the units they are worth. BUG: the units round DOWN.
    function withdraw(uint256 assets) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 units = assets * totalUnits / managedAssets; // should round up
        paidNow = _exit(units, assets);
    }

    /// @notice NAV per unit, in asset base units scaled by 1e18.
    function navPerUnit() external view returns (uint256) {
        return totalUnits == 0 ? initialUnitPrice * 1e18 : managedAssets * 1e18 / totalUnits;
    }

    function _exit(uint256 units, uint256 assets) internal returns (bool paidNow) {
        uint256 held = unitsOf[msg.sender];
        if (units > held) revert InsufficientUnits(msg.sender, units, held);
        unitsOf[msg.sender] = held - units;
        totalUnits -= units;
        managedAssets -= assets;
        paidNow = _payOut(msg.sender, assets);
        emit Withdrawn(msg.sender, assets, units, paidNow);
    }

    /// @dev Tokens held (plus what is queued as claims, which the books already released) cover the books.
    function _checkGuarded() internal view override {
        _requireInvariant(asset.balanceOf(address(this)) >= managedAssets, INV_SOLVENT);
    }
}
