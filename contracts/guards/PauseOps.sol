// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title PauseOps
/// @notice Operation codes understood by ScopedPause. An op code is a bit index in a uint32 mask.
/// @dev Codes 0-7 add risk (pausable by the guardian); 8-11 are exits that keep users safe and that the
///      guardian can never pause; 12-31 are free for protocol-specific operations (entries by default;
///      a protocol marks more exits by overriding `ScopedPause._exitOps`).
library PauseOps {
    /// @notice Deposit collateral or liquidity.
    uint8 internal constant DEPOSIT = 0;
    /// @notice Withdraw collateral or liquidity (rate-limited separately by the OutflowLimiter).
    uint8 internal constant WITHDRAW = 1;
    /// @notice Open a position or increase its size.
    uint8 internal constant OPEN = 2;
    /// @notice Trade, swap or fill an order.
    uint8 internal constant TRADE = 3;
    /// @notice Borrow against collateral.
    uint8 internal constant BORROW = 4;
    /// @notice Take a flash loan.
    uint8 internal constant FLASH_LOAN = 5;
    /// @notice Close a position or reduce its size (exit).
    uint8 internal constant CLOSE = 8;
    /// @notice Repay a debt (exit).
    uint8 internal constant REPAY = 9;
    /// @notice Add collateral to a position (exit: it only makes a position safer).
    uint8 internal constant ADD_COLLATERAL = 10;
    /// @notice Liquidate an unsafe position (exit: it keeps the protocol solvent).
    uint8 internal constant LIQUIDATE = 11;
    /// @notice Highest valid op code.
    uint8 internal constant MAX_OP = 31;

    /// @notice The exit ops: never pausable by the guardian.
    uint32 internal constant EXIT_OPS =
        (uint32(1) << CLOSE) | (uint32(1) << REPAY) | (uint32(1) << ADD_COLLATERAL) | (uint32(1) << LIQUIDATE);

    /// @notice The scope id that covers every market.
    uint256 internal constant ALL_MARKETS = 0;

    /// @notice Mask with only `op` set.
    function bit(uint8 op) internal pure returns (uint32) {
        return uint32(1) << op;
    }
}
