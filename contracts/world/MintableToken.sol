// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title MintableToken
/// @notice A test-world ERC-20 (a USDC-like stablecoin or a volatile token) whose owner can mint.
/// @dev Local chains and rehearsals only: the owner's mint power is unbounded by design.
contract MintableToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimal places (6 for a USDC-like stablecoin, 18 for most tokens).
    /// @param owner_ Account allowed to mint.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address owner_)
        ERC20(name_, symbol_)
        Ownable(owner_)
    {
        _decimals = decimals_;
    }

    /// @notice Decimal places of the token.
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` base units to `to`.
    /// @param to Recipient.
    /// @param amount Amount in base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
