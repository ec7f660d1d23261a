// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {EmergencySettlement} from "../../contracts/guards/EmergencySettlement.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {ExampleSettlementVault} from "../examples/ExampleSettlementVault.sol";

/// A vault whose claim hook over-reports (a protocol bug): the guard must refuse to overpay.
contract BuggyClaimsVault is EmergencySettlement {
    uint256 internal immutable _pool;

    constructor(address gov, uint256 pool) GuardAccess(gov, address(0)) {
        _pool = pool;
    }

    function _settlementPool() internal view override returns (uint256) {
        return _pool;
    }

    function _totalClaims() internal pure override returns (uint256) {
        return 100;
    }

    function _claimOf(address) internal pure override returns (uint256) {
        return 60; // two claimants sum to 120 > 100
    }

    function _payout(address, uint256) internal override {}
}

/// A vault whose payout calls the claimant back (like an ERC-777 hook): reentrancy must not pay twice.
contract CallbackVault is EmergencySettlement {
    uint256 public payouts;

    constructor(address gov) GuardAccess(gov, address(0)) {}

    function _settlementPool() internal pure override returns (uint256) {
        return 1000;
    }

    function _totalClaims() internal pure override returns (uint256) {
        return 1000;
    }

    function _claimOf(address) internal pure override returns (uint256) {
        return 10;
    }

    function _payout(address to, uint256) internal override {
        payouts += 1;
        Reenterer(to).onPayout();
    }
}

contract Reenterer {
    CallbackVault internal vault;
    bytes public lastError;

    constructor(CallbackVault v) {
        vault = v;
    }

    function claim() external {
        vault.claimSettlement();
    }

    function onPayout() external {
        try vault.claimSettlement() {} catch (bytes memory err) {
            lastError = err;
        }
    }
}

contract EmergencySettlementTest is Test {
    ExampleSettlementVault internal vault;
    MintableToken internal usdc;
    address internal gov = makeAddr("governance");
    address internal guardian = makeAddr("guardian");
    address internal council = makeAddr("council");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal thief = makeAddr("thief");

    function setUp() public {
        usdc = new MintableToken("USD Coin", "USDC", 6, address(this));
        vault = new ExampleSettlementVault(usdc, gov, guardian);
        vm.prank(gov);
        vault.setSettlementCouncil(council);
        vm.prank(gov);
        vault.setMarkPrice(2000e18);
        _deposit(alice, 100e6);
        _deposit(bob, 300e6);
    }

    function _deposit(address who, uint256 amount) internal {
        usdc.mint(who, amount);
        vm.startPrank(who);
        usdc.approve(address(vault), amount);
        vault.deposit(amount);
        vm.stopPrank();
    }

    function _steal(uint256 amount) internal {
        vm.prank(address(vault));
        usdc.transfer(thief, amount);
    }

    function _claim(address who) internal returns (uint256) {
        vm.prank(who);
        return vault.claimSettlement();
    }

    // ------------------------------------------------------------ triggers

    function test_governanceTriggers() public {
        vm.expectEmit(true, false, false, true, address(vault));
        emit EmergencySettlement.SettlementTriggered(gov, EmergencySettlement.Trigger.Governance, 400e6, 400e6);
        vm.prank(gov);
        vault.triggerSettlement();
        assertTrue(vault.settled());
        assertEq(vault.settledAt(), block.timestamp);
        assertEq(vault.settlementPool(), 400e6);
        assertEq(vault.totalClaims(), 400e6);
    }

    function test_councilTriggers() public {
        vm.prank(council);
        vault.triggerSettlement();
        assertTrue(vault.settled());
    }

    function test_guardianAndStrangerCannotTriggerWhileSolvent() public {
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NotAllowedToSettle.selector, guardian));
        vault.triggerSettlement();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NotAllowedToSettle.selector, alice));
        vault.triggerSettlement();
    }

    function test_anyoneTriggersWhenInsolvent() public {
        _steal(1);
        vm.expectEmit(true, false, false, true, address(vault));
        emit EmergencySettlement.SettlementTriggered(carol, EmergencySettlement.Trigger.Insolvency, 400e6 - 1, 400e6);
        vm.prank(carol);
        vault.triggerSettlement();
        assertTrue(vault.settled());
    }

    function test_removedCouncilCannotTrigger() public {
        vm.prank(gov);
        vault.setSettlementCouncil(address(0));
        vm.prank(council);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NotAllowedToSettle.selector, council));
        vault.triggerSettlement();
    }

    function test_onlyGovernanceSetsCouncil() public {
        vm.prank(council);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, council));
        vault.setSettlementCouncil(alice);
    }

    function test_triggerOnce() public {
        vm.prank(gov);
        vault.triggerSettlement();
        vm.prank(gov);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        vault.triggerSettlement();
    }

    // ------------------------------------------------------------ freeze

    function test_activityStopsAndPricesFreeze() public {
        vm.prank(gov);
        vault.triggerSettlement();
        assertEq(vault.frozenPrice("VAULT"), 2000e18);
        vm.prank(gov);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        vault.setMarkPrice(1);
        vm.prank(alice);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        vault.withdraw(1);
        vm.prank(alice);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        vault.deposit(1);
        assertEq(vault.frozenPrice("VAULT"), 2000e18);
    }

    // ------------------------------------------------------------ claims

    function test_claimBeforeSettlementReverts() public {
        vm.prank(alice);
        vm.expectRevert(EmergencySettlement.NotSettled.selector);
        vault.claimSettlement();
    }

    function test_proRataWhenShort() public {
        _steal(200e6); // half the vault is gone
        vm.prank(carol);
        vault.triggerSettlement();
        (uint256 c, uint256 p) = vault.settlementPayoutOf(alice);
        assertEq(c, 100e6);
        assertEq(p, 50e6);
        vm.expectEmit(true, false, false, true, address(vault));
        emit EmergencySettlement.SettlementClaimed(alice, 100e6, 50e6);
        assertEq(_claim(alice), 50e6);
        assertEq(_claim(bob), 150e6);
        assertEq(usdc.balanceOf(alice), 50e6);
        assertEq(usdc.balanceOf(bob), 150e6);
        assertEq(usdc.balanceOf(address(vault)), 0);
        assertEq(vault.paidTotal(), 200e6);
        assertEq(vault.claimedTotal(), 400e6);
    }

    function test_fullPayoutWhenSolventSurplusStays() public {
        usdc.mint(address(vault), 50e6); // a donation: surplus
        vm.prank(gov);
        vault.triggerSettlement();
        assertEq(_claim(alice), 100e6);
        assertEq(_claim(bob), 300e6);
        assertEq(usdc.balanceOf(address(vault)), 50e6);
    }

    function test_noDoubleClaim() public {
        vm.prank(gov);
        vault.triggerSettlement();
        _claim(alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.AlreadyClaimed.selector, alice));
        vault.claimSettlement();
        (uint256 c, uint256 p) = vault.settlementPayoutOf(alice);
        assertEq(c + p, 0);
    }

    function test_nothingToClaim() public {
        vm.prank(gov);
        vault.triggerSettlement();
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NothingToClaim.selector, carol));
        vault.claimSettlement();
    }

    function test_roundingNeverOverpays() public {
        _deposit(carol, 1);
        _steal(400e6 - 2); // pool 3, claims 400e6 + 1
        vm.prank(carol);
        vault.triggerSettlement();
        uint256 paid = _claim(alice) + _claim(bob) + _claim(carol);
        assertLe(paid, 3);
        assertEq(vault.paidTotal(), paid);
    }

    function test_laterDonationDoesNotChangePayouts() public {
        _steal(200e6);
        vm.prank(gov);
        vault.triggerSettlement();
        usdc.mint(address(vault), 1000e6);
        assertEq(_claim(alice), 50e6);
    }

    function test_buggyClaimsHookCannotOverpay() public {
        BuggyClaimsVault v = new BuggyClaimsVault(gov, 100);
        vm.prank(gov);
        v.triggerSettlement();
        vm.prank(alice);
        v.claimSettlement();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.ClaimsExceedTotal.selector, 120, 100));
        v.claimSettlement();
        assertEq(v.paidTotal(), 60);
    }

    function test_reentrantClaimCannotPayTwice() public {
        CallbackVault v = new CallbackVault(gov);
        Reenterer r = new Reenterer(v);
        vm.prank(gov);
        v.triggerSettlement();
        r.claim();
        assertEq(v.payouts(), 1);
        assertEq(r.lastError(), abi.encodeWithSelector(EmergencySettlement.AlreadyClaimed.selector, address(r)));
    }

    // ------------------------------------------------------------ fuzz

    /// Any deposits, any loss: payouts sum to at most the pool and each is claim * min(1, pool/claims).
    function testFuzz_payoutsProRata(uint96[4] memory amounts, uint256 lossSeed) public {
        address[4] memory users = [makeAddr("u0"), makeAddr("u1"), makeAddr("u2"), makeAddr("u3")];
        for (uint256 i; i < 4; i++) {
            if (amounts[i] > 0) _deposit(users[i], amounts[i]);
        }
        uint256 total = vault.totalDeposits();
        uint256 loss = bound(lossSeed, 0, total);
        if (loss > 0) _steal(loss);
        vm.prank(gov);
        vault.triggerSettlement();
        uint256 pool = vault.settlementPool();
        assertEq(pool, total - loss);
        uint256 paid;
        address[6] memory all = [alice, bob, users[0], users[1], users[2], users[3]];
        for (uint256 i; i < all.length; i++) {
            uint256 claim = vault.deposits(all[i]);
            if (claim == 0) continue;
            uint256 p = _claim(all[i]);
            assertEq(p, pool >= total ? claim : claim * pool / total);
            paid += p;
        }
        assertLe(paid, pool);
        assertEq(usdc.balanceOf(address(vault)), pool - paid);
    }

    // ------------------------------------------------------------ gas

    function test_gas_claimSettlement() public {
        _steal(100e6);
        vm.prank(gov);
        vault.triggerSettlement();
        vm.prank(alice);
        vault.claimSettlement();
        vm.snapshotGasLastCall("EmergencySettlement", "claimSettlement");
    }
}
