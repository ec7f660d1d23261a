// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {GuardedVault} from "./GuardedVault.sol";
import {TxInvariantGuard} from "../guards/TxInvariantGuard.sol";

/// @title InvariantGuardedVault
/// @notice GuardedVault plus the TxInvariantGuard: solvency (tokens held >= tracked liquidity) checked at
///         the end of the outermost call, and at most `maxTxOutflowBps` of the vault's balance may leave
///         in one transaction. Shows what the invariant guard costs on top of the hot-path guards.
contract InvariantGuardedVault is GuardedVault, TxInvariantGuard {
    /// @notice Largest share of the vault's balance that may leave in one transaction.
    uint256 public immutable maxTxOutflowBps;

    /// @param asset_ The vault's token.
    /// @param governance_ Timelock.
    /// @param guardian_ Fast responder.
    /// @param cfg Limiter parameters for `asset_`.
    /// @param maxTxOutflowBps_ Per-transaction outflow cap in bps of the starting balance.
    constructor(IERC20 asset_, address governance_, address guardian_, AssetConfig memory cfg, uint256 maxTxOutflowBps_)
        GuardedVault(asset_, governance_, guardian_, cfg)
    {
        maxTxOutflowBps = maxTxOutflowBps_;
    }

    /// @inheritdoc GuardedVault
    function deposit(uint256 amount) public override invariantGuarded {
        super.deposit(amount);
    }

    /// @inheritdoc GuardedVault
    function withdraw(uint256 amount) public override invariantGuarded {
        super.withdraw(amount);
    }

    function _checkInvariants() internal view override {
        _requireInvariant(asset.balanceOf(address(this)) >= _trackedLiquidity(address(asset)), "solvency");
    }

    function _txOutflowLimit() internal view override returns (address, uint256) {
        return (address(asset), maxTxOutflowBps);
    }
}
