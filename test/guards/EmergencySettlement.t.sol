// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {EmergencySettlement} from "../../contracts/guards/EmergencySettlement.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {ExampleSettlementVault} from "../examples/ExampleSettlementVault.sol";
import {TallyLedger, TallyWithoutHooks} from "../mocks/TallyLedger.sol";

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
        try vault.claimSettlement() {}
        catch (bytes memory err) {
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

    function test_tallyIsRefusedWhenTotalsAreKnown() public {
        vm.prank(gov);
        vault.triggerSettlement();
        assertTrue(vault.claimsOpen());
        vm.expectRevert(EmergencySettlement.TallyNotNeeded.selector);
        vault.tally(new address[](0));
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

/// Tally mode: claims are summed account by account after the trigger; claims open when all are tallied.
contract EmergencySettlementTallyTest is Test {
    TallyLedger internal ledger;
    MintableToken internal usdc;
    address internal gov = makeAddr("governance");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");
    address internal dave = makeAddr("dave");

    function setUp() public {
        usdc = new MintableToken("USD Coin", "USDC", 6, address(this));
        ledger = new TallyLedger(usdc, gov);
        ledger.setEquity(alice, 100e6);
        ledger.setEquity(bob, 300e6);
        ledger.setEquity(carol, -50e6); // under water: claims nothing
        usdc.mint(address(ledger), 200e6); // half of the 400e6 of positive claims
    }

    function _list(address a) internal pure returns (address[] memory l) {
        l = new address[](1);
        l[0] = a;
    }

    function _list(address a, address b, address c) internal pure returns (address[] memory l) {
        l = new address[](3);
        (l[0], l[1], l[2]) = (a, b, c);
    }

    function _trigger() internal {
        vm.prank(gov);
        ledger.triggerSettlement();
    }

    function _claim(address who) internal returns (uint256) {
        vm.prank(who);
        return ledger.claimSettlement();
    }

    function test_triggerRecordsThePoolAndTheAccountsButNoClaims() public {
        vm.expectEmit(true, false, false, true, address(ledger));
        emit EmergencySettlement.SettlementTriggered(gov, EmergencySettlement.Trigger.Governance, 200e6, 0);
        _trigger();
        assertEq(ledger.settlementPool(), 200e6);
        assertEq(ledger.totalClaims(), 0);
        assertEq(ledger.claimantCount(), 3);
        assertEq(ledger.talliedAccounts(), 0);
        assertFalse(ledger.claimsOpen());
    }

    function test_tallyBeforeSettlementReverts() public {
        vm.expectRevert(EmergencySettlement.NotSettled.selector);
        ledger.tally(_list(alice));
    }

    function test_incompleteTallyBlocksClaims() public {
        _trigger();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.TallyIncomplete.selector, 0, 3));
        ledger.claimSettlement();
        ledger.tally(_list(alice, bob, bob));
        (uint256 claim, uint256 payout) = ledger.settlementPayoutOf(alice);
        assertEq(claim, 100e6);
        assertEq(payout, 0, "no payout preview before the factor is final");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.TallyIncomplete.selector, 2, 3));
        ledger.claimSettlement();
        assertEq(usdc.balanceOf(alice), 0);
    }

    function test_batchedTalliesOpenClaimsOnTheLastBatch() public {
        _trigger();
        vm.expectEmit(true, false, false, true, address(ledger));
        emit EmergencySettlement.AccountTallied(bob, 300e6);
        assertEq(ledger.tally(_list(bob)), 1);
        assertEq(ledger.totalClaims(), 300e6);
        assertTrue(ledger.isTallied(bob));
        assertFalse(ledger.isTallied(alice));
        assertEq(ledger.tally(_list(alice)), 1);
        assertFalse(ledger.claimsOpen());
        vm.expectEmit(true, false, false, true, address(ledger));
        emit EmergencySettlement.AccountTallied(carol, 0);
        vm.expectEmit(false, false, false, true, address(ledger));
        emit EmergencySettlement.ClaimsOpened(200e6, 400e6);
        assertEq(ledger.tally(_list(carol)), 1);
        assertTrue(ledger.claimsOpen());
        assertEq(ledger.totalClaims(), 400e6);
    }

    function test_doubleTallyAndStrangersAreIgnored() public {
        _trigger();
        ledger.tally(_list(alice, alice, dave)); // dave never had an account
        assertEq(ledger.tally(_list(alice, dave, alice)), 0);
        assertEq(ledger.talliedAccounts(), 1);
        assertEq(ledger.totalClaims(), 100e6);
        assertFalse(ledger.isTallied(dave));
        ledger.tally(_list(bob, carol, alice));
        assertTrue(ledger.claimsOpen());
        assertEq(ledger.totalClaims(), 400e6, "alice counted once");
        vm.prank(dave);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NothingToClaim.selector, dave));
        ledger.claimSettlement();
    }

    function test_payoutsAreTheSharesAndSumToAtMostThePool() public {
        _trigger();
        ledger.tally(_list(alice, bob, carol));
        (uint256 c, uint256 p) = ledger.settlementPayoutOf(bob);
        assertEq(c, 300e6);
        assertEq(p, 150e6);
        vm.expectEmit(true, false, false, true, address(ledger));
        emit EmergencySettlement.SettlementClaimed(alice, 100e6, 50e6);
        assertEq(_claim(alice), 50e6);
        assertEq(_claim(bob), 150e6);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NothingToClaim.selector, carol));
        ledger.claimSettlement();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.AlreadyClaimed.selector, alice));
        ledger.claimSettlement();
        assertEq(ledger.paidTotal(), 200e6);
        assertEq(ledger.claimedTotal(), ledger.totalClaims());
        assertEq(usdc.balanceOf(address(ledger)), 0);
    }

    function test_surplusStaysWhenThePoolCoversEveryClaim() public {
        usdc.mint(address(ledger), 250e6); // pool 450e6 > claims 400e6
        _trigger();
        ledger.tally(_list(alice, bob, carol));
        assertEq(_claim(alice), 100e6);
        assertEq(_claim(bob), 300e6);
        assertEq(usdc.balanceOf(address(ledger)), 50e6);
    }

    function test_accountsAreFrozenAtTheTrigger() public {
        _trigger();
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        ledger.setEquity(dave, 1e6);
        assertEq(ledger.claimantCount(), 3);
    }

    function test_noAccountsOpensClaimsAtTheTrigger() public {
        TallyLedger empty = new TallyLedger(usdc, gov);
        vm.expectEmit(false, false, false, true, address(empty));
        emit EmergencySettlement.ClaimsOpened(0, 0);
        vm.prank(gov);
        empty.triggerSettlement();
        assertTrue(empty.claimsOpen());
    }

    function test_tallyModeWithoutAccountHooksFailsLoudly() public {
        TallyWithoutHooks broken = new TallyWithoutHooks(gov);
        vm.prank(gov);
        vm.expectRevert(EmergencySettlement.TallyHooksMissing.selector);
        broken.triggerSettlement();
    }

    /// Any equities, any pool, any split into two overlapping batches: claims open only after the last
    /// account, each payout is claim * min(1, pool / Σ positive equity), and the sum stays within the pool.
    function testFuzz_tallyPayoutsProRata(int64[5] memory equities, uint64 pool, uint8 split) public {
        TallyLedger l = new TallyLedger(usdc, gov);
        address[] memory users = new address[](5);
        uint256 total;
        for (uint256 i; i < 5; ++i) {
            users[i] = makeAddr(string(abi.encodePacked("u", vm.toString(i))));
            l.setEquity(users[i], equities[i]);
            if (equities[i] > 0) total += uint256(int256(equities[i]));
        }
        usdc.mint(address(l), pool);
        vm.prank(gov);
        l.triggerSettlement();
        uint256 k = split % 5; // first batch: users[0..k]; second: users[k-1..4] (overlapping)
        address[] memory first = new address[](k + 1);
        for (uint256 i; i <= k; ++i) {
            first[i] = users[i];
        }
        l.tally(first);
        if (k < 4) {
            assertFalse(l.claimsOpen());
            address[] memory second = new address[](5 - (k == 0 ? 0 : k - 1));
            for (uint256 i; i < second.length; ++i) {
                second[i] = users[i + (k == 0 ? 0 : k - 1)];
            }
            l.tally(second);
        }
        assertTrue(l.claimsOpen());
        assertEq(l.totalClaims(), total);
        uint256 paid;
        for (uint256 i; i < 5; ++i) {
            if (equities[i] <= 0) continue;
            uint256 claim = uint256(int256(equities[i]));
            vm.prank(users[i]);
            uint256 p = l.claimSettlement();
            assertEq(p, pool >= total ? claim : claim * pool / total);
            paid += p;
        }
        assertLe(paid, pool);
        assertEq(usdc.balanceOf(address(l)), pool - paid);
    }

    function test_gas_tallyTenAccounts() public {
        TallyLedger l = new TallyLedger(usdc, gov);
        address[] memory list = new address[](10);
        for (uint256 i; i < 10; ++i) {
            list[i] = address(uint160(0x1000 + i));
            l.setEquity(list[i], int256(1e6 * (i + 1)));
        }
        vm.prank(gov);
        l.triggerSettlement();
        l.tally(list);
        vm.snapshotGasLastCall("EmergencySettlement", "tally10");
    }
}
