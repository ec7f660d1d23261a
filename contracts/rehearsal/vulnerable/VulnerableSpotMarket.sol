// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PauseOps} from "../../guards/PauseOps.sol";
import {IOracleGuard} from "../../interfaces/IProtocolGuards.sol";
import {ConstantProductPool} from "../../world/ConstantProductPool.sol";
import {RehearsalGuards} from "../RehearsalGuards.sol";

/// @title VulnerableSpotMarket
/// @notice VULNERABLE VARIANT, deployed only by the exploit rehearsal. A small lending market: lenders
///         supply the asset (a stablecoin), borrowers post a volatile collateral and borrow up to 80% of
///         its value. THE BUG: the collateral is valued at the AMM pool's SPOT price, which one
///         transaction with a flash swap can move at will (bZx, Harvest, Mango Markets).
/// @dev Guarded, the TxInvariantGuard runs an account status check at the end of every outermost call:
///      the caller's debt must stay within the LTV at the OracleGuard's price (a manipulation-resistant
///      reference), whatever price the buggy path used. The limiter and the outflow cap bound payouts.
contract VulnerableSpotMarket is RehearsalGuards {
    using SafeERC20 for IERC20;

    uint256 public constant LTV_BPS = 8_000;

    /// @notice The collateral token (e.g. WETH).
    IERC20 public immutable collateral;
    /// @notice The collateral/asset pool whose spot price the market (wrongly) trusts.
    ConstantProductPool public immutable pool;
    /// @notice The reference price used by the invariant (guarded only).
    IOracleGuard public immutable referenceOracle;
    /// @notice The reference market id in the OracleGuard.
    bytes32 public immutable referenceMarket;
    uint256 private immutable _collateralUnit;
    uint256 private immutable _assetScale; // 1e18 USD per asset unit

    mapping(address => uint256) public supplied;
    uint256 public totalSupplied;
    mapping(address => uint256) public collateralOf;
    mapping(address => uint256) public debtOf;
    uint256 public totalDebt;

    event Supplied(address indexed lender, uint256 amount);
    event SupplyWithdrawn(address indexed lender, uint256 amount, bool paidNow);
    event CollateralDeposited(address indexed account, uint256 amount);
    event CollateralWithdrawn(address indexed account, uint256 amount);
    event Borrowed(address indexed account, uint256 amount, uint256 spotPrice, bool paidNow);
    event Repaid(address indexed account, uint256 amount);

    error ExceedsLtv(address account, uint256 debt, uint256 limit);
    error InsufficientLiquidity(uint256 requested, uint256 available);
    error InsufficientBalance(address account, uint256 requested, uint256 balance);
    bytes32 public constant INV_ACCOUNT_HEALTH = "account-health-at-reference";

    /// @param asset_ Lent asset (6-decimal stablecoin).
    /// @param assetDecimals Decimals of the asset.
    /// @param collateral_ Collateral token.
    /// @param collateralDecimals Decimals of the collateral.
    /// @param pool_ Collateral/asset pool (token0 = collateral, token1 = asset).
    /// @param referenceOracle_ OracleGuard used by the invariant.
    /// @param referenceMarket_ Market id of the collateral in the OracleGuard.
    /// @param governance_ Timelock.
    /// @param guardian_ Watchtower key.
    /// @param guarded_ The guard switch.
    /// @param limiter Limiter parameters.
    /// @param maxTxOutflowBps_ Per-transaction outflow cap.
    constructor(
        IERC20 asset_,
        uint8 assetDecimals,
        IERC20 collateral_,
        uint8 collateralDecimals,
        ConstantProductPool pool_,
        IOracleGuard referenceOracle_,
        bytes32 referenceMarket_,
        address governance_,
        address guardian_,
        bool guarded_,
        AssetConfig memory limiter,
        uint256 maxTxOutflowBps_
    ) RehearsalGuards(asset_, governance_, guardian_, guarded_, limiter, maxTxOutflowBps_) {
        collateral = collateral_;
        pool = pool_;
        referenceOracle = referenceOracle_;
        referenceMarket = referenceMarket_;
        _collateralUnit = 10 ** collateralDecimals;
        _assetScale = 10 ** (18 - assetDecimals);
    }

    /// @notice Supply `amount` of the asset to be lent out.
    function supply(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.DEPOSIT);
        asset.safeTransferFrom(msg.sender, address(this), amount);
        supplied[msg.sender] += amount;
        totalSupplied += amount;
        _recordInflow(amount);
        emit Supplied(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of supplied asset (paid now or, guarded and over the limit, as a claim).
    function withdrawSupply(uint256 amount) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 bal = supplied[msg.sender];
        if (amount > bal) revert InsufficientBalance(msg.sender, amount, bal);
        _requireLiquidity(amount);
        supplied[msg.sender] = bal - amount;
        totalSupplied -= amount;
        paidNow = _payOut(msg.sender, amount);
        emit SupplyWithdrawn(msg.sender, amount, paidNow);
    }

    /// @notice Post `amount` of collateral (never pausable by the guardian: it only makes an account safer).
    function depositCollateral(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.ADD_COLLATERAL);
        collateral.safeTransferFrom(msg.sender, address(this), amount);
        collateralOf[msg.sender] += amount;
        emit CollateralDeposited(msg.sender, amount);
    }

    /// @notice Take back `amount` of collateral; the account must stay within the LTV (at the spot price).
    function withdrawCollateral(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.WITHDRAW);
        uint256 bal = collateralOf[msg.sender];
        if (amount > bal) revert InsufficientBalance(msg.sender, amount, bal);
        collateralOf[msg.sender] = bal - amount;
        _requireLtv(msg.sender, spotPrice());
        collateral.safeTransfer(msg.sender, amount);
        emit CollateralWithdrawn(msg.sender, amount);
    }

    /// @notice Borrow `amount` of the asset against the caller's collateral, valued at the SPOT price (the bug).
    function borrow(uint256 amount) external invariantGuarded returns (bool paidNow) {
        _whenOpen(PauseOps.BORROW);
        _requireLiquidity(amount);
        uint256 price = spotPrice();
        debtOf[msg.sender] += amount;
        totalDebt += amount;
        _requireLtv(msg.sender, price);
        paidNow = _payOut(msg.sender, amount);
        emit Borrowed(msg.sender, amount, price, paidNow);
    }

    /// @notice Repay up to `amount` of the caller's debt (an exit: never pausable by the guardian).
    function repay(uint256 amount) external invariantGuarded {
        _whenOpen(PauseOps.REPAY);
        uint256 debt = debtOf[msg.sender];
        if (amount > debt) amount = debt;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        debtOf[msg.sender] = debt - amount;
        totalDebt -= amount;
        _recordInflow(amount);
        emit Repaid(msg.sender, amount);
    }

    /// @notice The pool's spot price of the collateral (18 decimals, USD per whole token): what the bug uses.
    function spotPrice() public view returns (uint256) {
        return pool.spotPrice();
    }

    /// @notice Borrowing limit of `account` at `price18` (asset units).
    function borrowLimit(address account, uint256 price18) public view returns (uint256) {
        uint256 value18 = Math.mulDiv(collateralOf[account], price18, _collateralUnit);
        return (value18 / _assetScale) * LTV_BPS / 10_000;
    }

    function _requireLtv(address account, uint256 price18) internal view {
        uint256 limit = borrowLimit(account, price18);
        if (debtOf[account] > limit) revert ExceedsLtv(account, debtOf[account], limit);
    }

    function _requireLiquidity(uint256 amount) internal view {
        uint256 available = asset.balanceOf(address(this));
        if (amount > available) revert InsufficientLiquidity(amount, available);
    }

    /// @dev Account status check at the reference price (Euler's deferred account check, one account).
    function _checkGuarded() internal view override {
        (uint256 ref,) = referenceOracle.viewPrice(referenceMarket);
        _requireInvariant(debtOf[msg.sender] <= borrowLimit(msg.sender, ref), INV_ACCOUNT_HEALTH);
    }
}
