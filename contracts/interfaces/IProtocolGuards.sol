// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice What the clearing engine needs of the OracleGuard.
interface IOracleGuard {
    /// @notice The checked price (18 decimals) of `market`, or its last good price; and reduce-only.
    function checkedPrice(bytes32 market) external returns (uint256 price18, bool reduceOnly);
    /// @notice The same without recording anything.
    function viewPrice(bytes32 market) external view returns (uint256 price18, bool reduceOnly);
    /// @notice Lowest and highest of the last good price and every feed's latest answer (18 decimals).
    function observedRange(bytes32 market) external view returns (uint256 low, uint256 high);
    /// @notice The prices a reduce-only market's exits may be filled at: handed-out price, feeds and
    ///         reference, clamped into the reference's band (18 decimals).
    function exitRange(bytes32 market) external view returns (uint256 low, uint256 high);
}

/// @notice What the clearing engine needs of the ParameterRegistry.
interface IParameterRegistry {
    /// @notice The effective value of parameter `key` (reverts on an unknown key).
    function get(bytes32 key) external view returns (uint256);
    /// @notice The value liquidations use: the looser pre-tightening value during a fast tightening's grace.
    function getWithGrace(bytes32 key) external view returns (uint256);
}

/// @notice What the clearing engine needs of the collateral vault.
interface ICollateralVault {
    /// @notice Pull `amount` of collateral from `from` (who approved the vault); only from the account the
    ///         Router is acting for in this call.
    function pull(address from, uint256 amount) external;
    /// @notice Pay `amount` to `to` through the outflow limiter; false when it was queued as a claim.
    function pay(address to, uint256 amount) external returns (bool paidNow);
    /// @notice Pay a settlement share to `to` (no rate limit: settlement is the orderly exit); only after
    ///         settlement, and in total never more than the recorded settlement pool.
    function paySettlement(address to, uint256 amount) external;
    /// @notice Collateral tokens held that are not already promised to queued (delayed) withdrawals.
    function freeBalance() external view returns (uint256);
}
