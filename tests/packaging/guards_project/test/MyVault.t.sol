// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {OutflowLimiter} from "bastion-guards/guards/OutflowLimiter.sol";
import {ScopedPause} from "bastion-guards/guards/ScopedPause.sol";
import {PauseOps} from "bastion-guards/guards/PauseOps.sol";
import {MyVault} from "../src/MyVault.sol";

contract Token is ERC20("Token", "TKN") {
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

contract MyVaultTest is Test {
    Token token = new Token();
    address governance = makeAddr("governance");
    address guardian = makeAddr("guardian");
    address alice = makeAddr("alice");
    MyVault vault;

    function setUp() public {
        // 10% of the vault per 6 h, never less than 1,000 tokens; no inflow credit (shift 3).
        OutflowLimiter.AssetConfig memory cfg = OutflowLimiter.AssetConfig({
            limitBps: 1_000,
            window: 6 hours,
            floor: 1_000e18,
            cooldown: 1 hours,
            mode: OutflowLimiter.Mode.REVERT,
            creditShift: 3
        });
        vault = new MyVault(IERC20(address(token)), governance, guardian, cfg);
        token.mint(alice, 100_000e18);
        vm.prank(alice);
        token.approve(address(vault), type(uint256).max);
    }

    function test_small_withdrawal_passes() public {
        vm.startPrank(alice);
        vault.deposit(50_000e18);
        vault.withdraw(500e18);
        assertEq(token.balanceOf(alice), 50_500e18);
    }

    function test_large_withdrawal_right_after_deposit_is_rate_limited_then_refills() public {
        vm.startPrank(alice);
        vault.deposit(50_000e18);
        // The deposit counts in the liquidity at once, in the headroom only through the (here zero) credit.
        vm.expectPartialRevert(OutflowLimiter.RateLimited.selector);
        vault.withdraw(5_000e18);
        vm.warp(block.timestamp + 6 hours); // one window later the bucket has refilled to 10%
        vault.withdraw(5_000e18);
        assertEq(token.balanceOf(alice), 55_000e18);
    }

    function test_guardian_pause_blocks_deposits_of_the_market_only_for_a_bounded_time() public {
        uint256 market = vault.market();
        vm.prank(guardian);
        vault.pause(market, PauseOps.bit(PauseOps.DEPOSIT), 1 hours);
        vm.prank(alice);
        vm.expectPartialRevert(ScopedPause.OperationPaused.selector);
        vault.deposit(1e18);
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(alice);
        vault.deposit(1e18);
    }

    function test_only_the_guardian_pauses() public {
        uint256 market = vault.market();
        vm.expectRevert();
        vault.pause(market, PauseOps.bit(PauseOps.DEPOSIT), 1 hours);
    }
}
