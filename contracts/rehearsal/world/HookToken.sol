// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice A recipient that wants to hear about incoming tokens (ERC-777's tokensReceived, simplified).
interface ITokenReceiverHook {
    /// @notice Called by the token after `amount` moved from `from` to the implementer.
    function tokensReceived(address from, uint256 amount) external;
}

/// @title HookToken
/// @notice Test-world ERC-20 with an ERC-777-style receive hook: a recipient that registered itself is
///         called back after every transfer to it. The hook is what makes a vault that pays before it
///         updates its books re-enterable (imBTC on Uniswap v1 and Lendf.me, April 2020).
/// @dev Rehearsals only. Registration stands in for the ERC-1820 registry lookup.
contract HookToken is ERC20, Ownable {
    uint8 private immutable _decimals;
    /// @notice Whether `account` asked to be called back on receipt.
    mapping(address => bool) public hookRegistered;

    /// @notice `account` (un)registered its receive hook.
    event HookRegistered(address indexed account, bool on);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals.
    /// @param owner_ Account allowed to mint.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address owner_)
        ERC20(name_, symbol_)
        Ownable(owner_)
    {
        _decimals = decimals_;
    }

    /// @notice Decimal places.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` to `to` (owner only).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Ask to be called back (`tokensReceived`) after every transfer to the caller.
    function registerHook(bool on) external {
        hookRegistered[msg.sender] = on;
        emit HookRegistered(msg.sender, on);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from != address(0) && to != address(0) && hookRegistered[to]) {
            ITokenReceiverHook(to).tokensReceived(from, value);
        }
    }
}
