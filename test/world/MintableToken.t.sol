// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";

contract MintableTokenTest is Test {
    MintableToken internal usdc;
    address internal owner = makeAddr("owner");

    function setUp() public {
        usdc = new MintableToken("USD Coin", "USDC", 6, owner);
    }

    function test_decimals() public view {
        assertEq(usdc.decimals(), 6);
    }

    function test_ownerMints() public {
        vm.prank(owner);
        usdc.mint(address(this), 5e6);
        assertEq(usdc.balanceOf(address(this)), 5e6);
        assertEq(usdc.totalSupply(), 5e6);
    }

    function test_strangerCannotMint(address stranger) public {
        vm.assume(stranger != owner);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        usdc.mint(stranger, 1);
    }
}
