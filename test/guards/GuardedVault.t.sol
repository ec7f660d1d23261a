// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {GuardedVault} from "../../contracts/examples/GuardedVault.sol";
import {InvariantGuardedVault} from "../../contracts/examples/InvariantGuardedVault.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {TxInvariantGuard} from "../../contracts/guards/TxInvariantGuard.sol";

/// @dev A token that calls back its recipient (ERC-777 style hook) to try re-entering the vault.
contract ReentrantHookToken is ERC20 {
    address public hook;

    constructor() ERC20("Hook", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHook(address h) external {
        hook = h;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to == hook && hook != address(0)) Reenterer(hook).onTokens();
    }
}

contract Reenterer {
    GuardedVault internal vault;

    constructor(GuardedVault v) {
        vault = v;
    }

    function onTokens() external {
        vault.withdraw(1);
    }

    function start(uint256 amount) external {
        IERC20(address(vault.asset())).approve(address(vault), type(uint256).max);
        vault.deposit(amount);
        vault.withdraw(amount / 2);
    }
}

/// @dev A vault with a bug: pays out without touching its books (what the invariant guard must catch).
contract BuggyVault is InvariantGuardedVault {
    constructor(IERC20 a, address g, address gd, AssetConfig memory c) InvariantGuardedVault(a, g, gd, c, 10_000) {}

    function buggyPayout(uint256 amount) external invariantGuarded {
        asset.transfer(msg.sender, amount);
    }
}

contract GuardedVaultTest is Test {
    MintableToken internal token;
    GuardedVault internal vault;
    address internal gov = makeAddr("gov");
    address internal guardian = makeAddr("guardian");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    uint256 internal market;
    InvariantGuardedVault internal inv;

    function _cfg(uint16 bps, uint256 floor) internal pure returns (OutflowLimiter.AssetConfig memory) {
        return OutflowLimiter.AssetConfig({
            limitBps: bps,
            window: 6 hours,
            floor: floor,
            cooldown: 6 hours,
            mode: OutflowLimiter.Mode.DELAYED,
            creditShift: 0
        });
    }

    function setUp() public {
        vm.warp(1_750_000_000);
        token = new MintableToken("USD", "USD", 18, address(this));
        vault = new GuardedVault(IERC20(address(token)), gov, guardian, _cfg(1_000, 1e18));
        market = vault.market();
        address[2] memory users = [alice, bob];
        for (uint256 i; i < 2; ++i) {
            token.mint(users[i], 1_500e18);
            vm.startPrank(users[i]);
            token.approve(address(vault), type(uint256).max);
            vault.deposit(500e18);
            vm.stopPrank();
        }
        skip(6 hours); // the deposits' limit has phased in
        // An invariant-guarded vault funded in setUp (its own transaction): 1,000 tokens.
        inv = new InvariantGuardedVault(IERC20(address(token)), gov, guardian, _cfg(10_000, 1_000e18), 2_000);
        for (uint256 i; i < 2; ++i) {
            vm.startPrank(users[i]);
            token.approve(address(inv), type(uint256).max);
            inv.deposit(500e18);
            vm.stopPrank();
        }
    }

    function test_depositWithdraw_books() public {
        vm.prank(alice);
        vault.withdraw(60e18);
        assertEq(vault.balanceOf(alice), 440e18);
        assertEq(token.balanceOf(alice), 560e18);
        assertEq(vault.totalAssets(), 940e18);
        assertEq(vault.trackedLiquidity(address(token)), 940e18);
    }

    function test_pause_scoped() public {
        vm.prank(guardian);
        vault.pause(market, uint32(1) << PauseOps.WITHDRAW, 1 hours);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ScopedPause.OperationPaused.selector, PauseOps.WITHDRAW, market, block.timestamp + 1 hours
            )
        );
        vault.withdraw(1e18);
        vm.prank(alice);
        vault.deposit(1e18); // deposits stay open
        skip(1 hours);
        vm.prank(alice);
        vault.withdraw(1e18);
    }

    function test_trip_queuesThenPays() public {
        vm.prank(alice);
        vault.withdraw(150e18); // limit is 100: trips, queued
        assertEq(vault.balanceOf(alice), 350e18);
        assertEq(token.balanceOf(alice), 500e18, "not paid yet");
        assertEq(vault.lockedFunds(alice, address(token)), 150e18);
        assertEq(vault.totalAssets(), 850e18);
        assertTrue(vault.isRateLimitTriggered(address(token)));
        vm.prank(bob);
        vault.withdraw(1e18); // queued behind alice
        vm.prank(bob);
        vault.deposit(10e18); // inflows continue
        skip(6 hours);
        assertEq(vault.claimLockedFunds(address(token), alice), 0, "100 of 150 released");
        skip(4 hours);
        assertEq(vault.claimLockedFunds(address(token), alice), 150e18);
        assertEq(token.balanceOf(alice), 650e18);
        assertEq(vault.claimLockedFunds(address(token), bob), 1e18);
        assertEq(vault.totalAssets(), 1_000e18 - 151e18 + 10e18);
        assertEq(token.balanceOf(address(vault)), vault.totalAssets());
    }

    function test_reentrancy_blocked() public {
        ReentrantHookToken h = new ReentrantHookToken();
        GuardedVault v = new GuardedVault(IERC20(address(h)), gov, guardian, _cfg(10_000, 1_000e18));
        Reenterer r = new Reenterer(v);
        h.mint(address(r), 100e18);
        h.setHook(address(r));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        r.start(10e18);
    }

    function test_invariantVault_txOutflowCap() public {
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                TxInvariantGuard.TxOutflowExceeded.selector, address(token), 1_000e18, 750e18, 200e18
            )
        );
        inv.withdraw(250e18); // the limiter allows it (floor 1,000), the per-tx cap (20%) does not
        vm.prank(alice);
        inv.withdraw(200e18);
        assertEq(token.balanceOf(alice), 700e18);
    }

    function test_invariantVault_bugCaught() public {
        BuggyVault v = new BuggyVault(IERC20(address(token)), gov, guardian, _cfg(10_000, 1_000e18));
        vm.startPrank(alice);
        token.approve(address(v), type(uint256).max);
        v.deposit(100e18);
        vm.expectRevert(abi.encodeWithSelector(TxInvariantGuard.InvariantViolated.selector, bytes32("solvency")));
        v.buggyPayout(1e18);
        v.withdraw(100e18);
        vm.stopPrank();
        assertEq(token.balanceOf(alice), 500e18, "alice got her 100 back");
    }
}
