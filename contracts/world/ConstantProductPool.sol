// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @notice Receives the tokens of a flash swap before paying for them.
interface IFlashSwapCallee {
    /// @notice Called by the pool after sending `amount0Out`/`amount1Out` and before checking payment.
    function onFlashSwap(address sender, uint256 amount0Out, uint256 amount1Out, bytes calldata data) external;
}

/// @title ConstantProductPool
/// @notice A test-world x*y=k pool with a 0.3% fee, flash swaps and a cumulative spot price for TWAPs.
/// @dev Exists so rehearsals can move a spot price the way real attackers do (borrow, swap, repay in one
///      transaction). Liquidity is added by transferring tokens and calling `sync`: no LP shares.
contract ConstantProductPool {
    using SafeERC20 for IERC20;

    uint256 private constant FEE_BPS = 30;

    /// @notice The base token (priced in token1).
    IERC20 public immutable token0;
    /// @notice The quote token.
    IERC20 public immutable token1;
    uint112 public reserve0;
    uint112 public reserve1;
    uint32 public lastUpdate;
    /// @notice Sum over time of the spot price (token1 per token0, 1e18-scaled, decimals-adjusted) * seconds.
    uint256 public priceCumulative;
    uint8 private immutable _decimals0;
    uint8 private immutable _decimals1;
    bool private _locked;

    /// @notice Emitted on every swap.
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    /// @notice Emitted when reserves change.
    event Sync(uint112 reserve0, uint112 reserve1);

    error InsufficientOutput();
    error InsufficientLiquidity();
    error InvariantBroken();
    error Locked();

    /// @param token0_ Base token.
    /// @param token1_ Quote token.
    /// @param decimals0 Base token decimals.
    /// @param decimals1 Quote token decimals.
    constructor(IERC20 token0_, IERC20 token1_, uint8 decimals0, uint8 decimals1) {
        token0 = token0_;
        token1 = token1_;
        _decimals0 = decimals0;
        _decimals1 = decimals1;
    }

    /// @notice Spot price of token0 in token1, 18 decimals, adjusted for both tokens' decimals.
    function spotPrice() public view returns (uint256) {
        if (reserve0 == 0) return 0;
        return Math.mulDiv(uint256(reserve1) * 10 ** _decimals0, 1e18, uint256(reserve0) * 10 ** _decimals1);
    }

    /// @notice Output amount for an exact input, after the fee.
    function getAmountOut(uint256 amountIn, bool zeroForOne) public view returns (uint256) {
        (uint256 rIn, uint256 rOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        uint256 inWithFee = amountIn * (10_000 - FEE_BPS);
        return (inWithFee * rOut) / (rIn * 10_000 + inWithFee);
    }

    /// @notice Send `amount0Out`/`amount1Out` to `to`, optionally call it back, then require payment
    ///         so that k (after the fee on inputs) does not decrease.
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external {
        if (_locked) revert Locked();
        _locked = true;
        if (amount0Out == 0 && amount1Out == 0) revert InsufficientOutput();
        (uint112 r0, uint112 r1) = (reserve0, reserve1);
        if (amount0Out >= r0 || amount1Out >= r1) revert InsufficientLiquidity();
        if (amount0Out > 0) token0.safeTransfer(to, amount0Out);
        if (amount1Out > 0) token1.safeTransfer(to, amount1Out);
        if (data.length > 0) IFlashSwapCallee(to).onFlashSwap(msg.sender, amount0Out, amount1Out, data);
        _settle(r0, r1, amount0Out, amount1Out, to);
        _locked = false;
    }

    /// @dev Checks that the inputs paid for the outputs (k after fee) and records the new reserves.
    function _settle(uint112 r0, uint112 r1, uint256 amount0Out, uint256 amount1Out, address to) private {
        uint256 b0 = token0.balanceOf(address(this));
        uint256 b1 = token1.balanceOf(address(this));
        uint256 in0 = b0 > r0 - amount0Out ? b0 - (r0 - amount0Out) : 0;
        uint256 in1 = b1 > r1 - amount1Out ? b1 - (r1 - amount1Out) : 0;
        if ((b0 * 10_000 - in0 * FEE_BPS) * (b1 * 10_000 - in1 * FEE_BPS) < uint256(r0) * r1 * 1e8) {
            revert InvariantBroken();
        }
        _update(b0, b1);
        emit Swap(msg.sender, in0, in1, amount0Out, amount1Out, to);
    }

    /// @notice Match reserves to balances (after a liquidity transfer).
    function sync() external {
        _update(token0.balanceOf(address(this)), token1.balanceOf(address(this)));
    }

    function _update(uint256 b0, uint256 b1) private {
        uint32 nowTs = uint32(block.timestamp);
        if (lastUpdate != 0 && nowTs > lastUpdate) priceCumulative += spotPrice() * (nowTs - lastUpdate);
        lastUpdate = nowTs;
        reserve0 = SafeCast.toUint112(b0);
        reserve1 = SafeCast.toUint112(b1);
        emit Sync(reserve0, reserve1);
    }
}
