// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {OutflowLimiter} from "../guards/OutflowLimiter.sol";
import {ICollateralVault} from "../interfaces/IProtocolGuards.sol";

/// @dev What the Vault reads of its engine: the Router it serves and the settlement it pays out.
interface IVaultEngine {
    function router() external view returns (address);
    function settled() external view returns (bool);
    function settlementPool() external view returns (uint256);
}

/// @dev What the Vault reads of the Router: the account on whose behalf it is depositing now.
interface IActingRouter {
    function actingAccount() external view returns (address);
}

/// @title Vault
/// @notice Holds the clearinghouse's collateral (one stablecoin) and nothing else: it knows no positions and
///         obeys only the current engine. Every payment goes through the OutflowLimiter, so even a broken or
///         malicious engine can drain at most the limiter's headroom before the breaker trips.
/// @dev Replacing the engine (governance, i.e. the timelock) moves no funds.
contract Vault is ICollateralVault, OutflowLimiter, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The collateral token.
    IERC20 public immutable asset;
    /// @notice The only contract allowed to move funds.
    address public engine;
    /// @notice Payments queued by the limiter (DELAYED mode) and not yet claimed.
    uint256 public outstandingClaims;
    /// @notice Settlement shares paid so far; never more than the engine's recorded settlement pool.
    uint256 public settlementPaid;

    /// @notice Governance pointed the vault at a new engine.
    event EngineSet(address indexed previous, address indexed next);
    /// @notice A settlement share was paid (outside the limiter: settlement is the orderly exit).
    event SettlementPaid(address indexed to, uint256 amount);

    /// @notice The caller is not the current engine.
    error NotEngine(address caller);
    /// @notice `pull` may only take from the account the Router is acting for now, not `from`.
    error NotActingAccount(address from);
    /// @notice `paySettlement` before the engine's settlement was triggered.
    error NotSettled();
    /// @notice A settlement payout of `amount` would take the total paid past the recorded `pool`.
    error SettlementPoolExceeded(uint256 amount, uint256 paid, uint256 pool);

    modifier onlyEngine() {
        if (msg.sender != engine) revert NotEngine(msg.sender);
        _;
    }

    /// @param asset_ The collateral token.
    /// @param governance_ The timelock.
    /// @param guardian_ May extend a limiter trip, within its bound.
    /// @param limiter Outflow limiter parameters for `asset_`.
    constructor(IERC20 asset_, address governance_, address guardian_, AssetConfig memory limiter)
        GuardAccess(governance_, guardian_)
    {
        asset = asset_;
        _registerAsset(address(asset_), limiter, 0);
    }

    /// @notice Point the vault at a new engine (governance, through the timelock).
    /// @param next The new engine.
    function setEngine(address next) external onlyGovernance {
        emit EngineSet(engine, next);
        engine = next;
    }

    /// @inheritdoc ICollateralVault
    /// @dev Only from the account the engine's Router is serving in this call, so a replaced or buggy
    ///      engine cannot take tokens from anyone else who approved the Vault (audit F3).
    function pull(address from, uint256 amount) external onlyEngine nonReentrant {
        if (from != IActingRouter(IVaultEngine(msg.sender).router()).actingAccount()) revert NotActingAccount(from);
        asset.safeTransferFrom(from, address(this), amount);
        _onTokenInflow(address(asset), amount);
    }

    /// @inheritdoc ICollateralVault
    function pay(address to, uint256 amount) external onlyEngine nonReentrant returns (bool paidNow) {
        paidNow = _onTokenOutflow(address(asset), to, amount);
        if (paidNow) asset.safeTransfer(to, amount);
        else outstandingClaims += amount;
    }

    /// @inheritdoc ICollateralVault
    /// @dev Only after the engine's settlement, and never more in total than the pool it recorded, so the
    ///      limiter bypass cannot move more than settlement owes (audit F3).
    function paySettlement(address to, uint256 amount) external onlyEngine nonReentrant {
        IVaultEngine e = IVaultEngine(msg.sender);
        if (!e.settled()) revert NotSettled();
        uint256 paid = settlementPaid + amount;
        uint256 pool = e.settlementPool();
        if (paid > pool) revert SettlementPoolExceeded(amount, settlementPaid, pool);
        settlementPaid = paid;
        asset.safeTransfer(to, amount);
        emit SettlementPaid(to, amount);
    }

    /// @inheritdoc ICollateralVault
    function freeBalance() external view returns (uint256) {
        return asset.balanceOf(address(this)) - outstandingClaims;
    }

    function _payLockedFunds(address, address recipient, uint256 amount) internal override {
        outstandingClaims -= amount;
        asset.safeTransfer(recipient, amount);
    }
}
