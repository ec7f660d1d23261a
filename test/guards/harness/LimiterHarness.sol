// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "../../../contracts/guards/GuardAccess.sol";
import {OutflowLimiter} from "../../../contracts/guards/OutflowLimiter.sol";

/// @notice OutflowLimiter with its internal API exposed; claims are "paid" into a ledger.
contract LimiterHarness is OutflowLimiter {
    mapping(address asset => mapping(address recipient => uint256)) public paid;
    uint256 public initialLiquidity;

    constructor(address governance_, address guardian_) GuardAccess(governance_, guardian_) {}

    function register(address asset, AssetConfig memory cfg, uint256 liquidity) external {
        _registerAsset(asset, cfg, liquidity);
    }

    function setInitialLiquidity(uint256 liquidity) external {
        initialLiquidity = liquidity;
    }

    function inflow(address asset, uint256 amount) external {
        _onTokenInflow(asset, amount);
    }

    function outflow(address asset, address recipient, uint256 amount) external returns (bool) {
        return _onTokenOutflow(asset, recipient, amount);
    }

    /// @dev A flash round trip inside one call: deposit then withdraw the same amount.
    function flash(address asset, address recipient, uint256 amount) external returns (bool) {
        _onTokenInflow(asset, amount);
        return _onTokenOutflow(asset, recipient, amount);
    }

    function tracked(address asset) external view returns (uint256) {
        return _trackedLiquidity(asset);
    }

    function _initialLiquidity(address) internal view override returns (uint256) {
        return initialLiquidity;
    }

    function _payLockedFunds(address asset, address recipient, uint256 amount) internal override {
        paid[asset][recipient] += amount;
    }
}
