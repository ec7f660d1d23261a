// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProtocolBase} from "./ProtocolBase.sol";
import {ClearingEngine} from "../../contracts/protocol/ClearingEngine.sol";
import {Router} from "../../contracts/protocol/Router.sol";
import {Vault} from "../../contracts/protocol/Vault.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {TxInvariantGuard} from "../../contracts/guards/TxInvariantGuard.sol";
import {EmergencySettlement} from "../../contracts/guards/EmergencySettlement.sol";
import {OracleGuard} from "../../contracts/guards/OracleGuard.sol";

contract ClearinghouseTest is ProtocolBase {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    function test_depositAndWithdrawKeepTheBooksExact() public {
        _fund(alice, 10_000 * USD);
        assertEq(engine.collateralOf(alice), int256(10_000 * USD));
        assertEq(int256(usdc.balanceOf(address(vault))), engine.obligations());
        vm.prank(alice);
        assertTrue(router.withdraw(4_000 * USD));
        assertEq(usdc.balanceOf(alice), 4_000 * USD);
        assertEq(int256(usdc.balanceOf(address(vault))), engine.obligations());
    }

    function test_longProfitEqualsSizeTimesMoveMinusFees() public {
        _fund(alice, 10_000 * USD);
        _trade(alice, ETH, 10e18); // notional 30,000: fee 30
        _setPrice(ETH, 3_300e8);
        vm.prank(alice);
        router.close(ETH); // notional 33,000: fee 33
        // +3,000 profit - 63 fees, rounded down by at most one unit
        assertApproxEqAbs(engine.collateralOf(alice), int256(10_000 * USD + 3_000 * USD - 63 * USD), 1);
        assertLe(engine.collateralOf(alice), int256(10_000 * USD + 3_000 * USD - 63 * USD));
        assertEq(engine.positionOf(maker, ETH).size, 0, "maker mirrored the round trip");
        _assertSolvent();
    }

    function test_initialMarginBoundsLeverage() public {
        _fund(alice, 3_000 * USD);
        // 10% initial margin: 3,000 supports 30,000 notional minus the fee; 10 ETH is just too much.
        vm.prank(alice);
        vm.expectRevert();
        router.trade(ETH, 10e18, 0);
        _trade(alice, ETH, 9e18);
    }

    function test_openInterestCapStopsNewRisk() public {
        _fund(alice, 10_000_000 * USD);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.OpenInterestCap.selector, ETH, 2_001e18, 2_000e18));
        router.trade(ETH, 2_001e18, 0);
    }

    function test_priceLimitProtectsTheTrader() public {
        _fund(alice, 10_000 * USD);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.PriceLimit.selector, ETH, 3_000e18, 2_999e18));
        router.trade(ETH, 1e18, 2_999e18);
    }

    function test_fundingMovesFromTheHeavySideToTheLightSide() public {
        _fund(alice, 100_000 * USD);
        _trade(alice, ETH, 100e18); // all trader OI is long: longs pay the max rate (0.1%/day)
        skip(1 days);
        _setPrice(ETH, 3_000e8); // fresh feeds
        (int256 before,,) = engine.health(maker);
        vm.prank(alice);
        router.close(ETH);
        // 0.1% of 300,000 notional over a day: 300 USD paid by alice to the maker (plus fees).
        int256 expectedAlice = int256(100_000 * USD) - 300 * int256(USD) - 600 * int256(USD);
        assertApproxEqAbs(engine.collateralOf(alice), expectedAlice, 2 * USD);
        assertGt(engine.collateralOf(maker), before - 1);
        _assertSolvent();
    }

    function test_liquidationPaysKeeperAndInsurance() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18); // 300k notional on 31k: ~9.7x
        _setPrice(ETH, 2_750e8); // -25,000: equity ~5,700 < maintenance 13,750
        uint256 insuranceBefore = engine.insuranceFund();
        vm.prank(keeper);
        router.liquidate(alice);
        assertEq(engine.positionOf(alice, ETH).size, 0);
        // penalty: 1% of 275,000 = 2,750, half to the keeper
        assertEq(engine.collateralOf(keeper), int256(1_375 * USD));
        assertEq(engine.insuranceFund(), insuranceBefore + 1_375 * USD);
        _assertSolvent();
    }

    function test_healthyAccountCannotBeLiquidated() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18);
        vm.prank(keeper);
        vm.expectRevert();
        router.liquidate(alice);
    }

    function test_badDebtIsCoveredByInsuranceThenTheMaker() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18);
        _setPrice(ETH, 2_600e8); // -40,000 on 31k: about 9,000 of bad debt
        uint256 insuranceBefore = engine.insuranceFund();
        vm.prank(keeper);
        router.liquidate(alice);
        assertEq(engine.collateralOf(alice), 0);
        assertLt(engine.insuranceFund(), insuranceBefore);
        assertApproxEqAbs(insuranceBefore - engine.insuranceFund(), 9_000 * USD + 300 * USD, 5 * USD);
        _assertSolvent();
    }

    function test_guardianPauseStopsOpensButNeverExits() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 50e18);
        vm.prank(guardian);
        router.pause(1, PauseOps.bit(PauseOps.OPEN) | PauseOps.bit(PauseOps.DEPOSIT), 12 hours);
        vm.prank(alice);
        vm.expectRevert();
        router.trade(ETH, 1e18, 0);
        // adding collateral to an open position is an exit-side op: still allowed
        usdc.mint(alice, 1_000 * USD);
        vm.prank(alice);
        router.deposit(1_000 * USD);
        // reducing and closing work
        _trade(alice, ETH, -10e18);
        vm.prank(alice);
        router.close(ETH);
        // BTC is another scope: unaffected
        _trade(alice, BTC, 1e17);
    }

    function test_guardianCannotPauseExits() public {
        vm.prank(guardian);
        vm.expectRevert();
        router.pause(1, PauseOps.bit(PauseOps.CLOSE), 1 hours);
        vm.prank(guardian);
        vm.expectRevert();
        router.pause(0, PauseOps.bit(PauseOps.LIQUIDATE), 1 hours);
    }

    function test_liquidationsWaitOutTheGraceAfterAPause() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 100e18);
        // Only a pause of exits (here by governance) kept owners from reacting: it earns the grace.
        router.pause(1, PauseOps.bit(PauseOps.CLOSE), 1 hours);
        skip(1 hours + 1);
        _setPrice(ETH, 2_750e8); // unsafe, but equity still positive
        vm.prank(keeper);
        vm.expectRevert();
        router.liquidate(alice);
        skip(4 hours);
        _setPrice(ETH, 2_750e8);
        vm.prank(keeper);
        router.liquidate(alice);
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }

    function test_reduceOnlyWhenFeedsDisagree() public {
        _fund(alice, 31_000 * USD);
        _trade(alice, ETH, 10e18);
        ethFeed2.setAnswer(3_300e8); // 10% apart: the oracle guard falls back to the last good price
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.ReduceOnly.selector, ETH));
        router.trade(ETH, 1e18, 0);
        vm.prank(alice);
        router.close(ETH); // exits still work at the last good price
        assertEq(engine.positionOf(alice, ETH).size, 0);
    }

    function test_largeWithdrawalIsQueuedByTheLimiterAndPaidLater() public {
        _fund(alice, 1_000_000 * USD);
        // limit: 10% of ~3.1M per 6h. Withdrawing 900k exceeds the headroom: it becomes a claim.
        vm.prank(alice);
        bool paidNow = router.withdraw(900_000 * USD);
        assertFalse(paidNow);
        assertEq(usdc.balanceOf(alice), 0);
        assertEq(vault.outstandingClaims(), 900_000 * USD);
        _assertSolvent();
        // Claims are released first-in first-out as the bucket refills (one limit per window).
        skip(1 hours); // the trip's cooldown
        for (uint256 i; i < 4; ++i) {
            vault.releaseLockedFunds(address(usdc));
            skip(6 hours);
        }
        vault.claimLockedFunds(address(usdc), alice);
        assertEq(usdc.balanceOf(alice), 900_000 * USD);
        assertEq(vault.outstandingClaims(), 0);
        _assertSolvent();
    }

    function test_invariantGuardRevertsATransactionThatLeavesTheVaultShort() public {
        _fund(alice, 10_000 * USD);
        // Pretend a bug made the books owe more than the vault holds: every entry must revert.
        vm.mockCall(
            address(engine), abi.encodeWithSelector(ClearingEngine.obligations.selector), abi.encode(int256(1e30))
        );
        bytes32 id = router.INV_SOLVENCY();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(TxInvariantGuard.InvariantViolated.selector, id));
        router.withdraw(1 * USD);
    }

    function test_vaultObeysOnlyTheCurrentEngine() public {
        vm.expectRevert(abi.encodeWithSelector(Vault.NotEngine.selector, address(this)));
        vault.pay(address(this), 1);
        address next = makeAddr("nextEngine");
        vault.setEngine(next);
        vm.prank(address(engine));
        vm.expectRevert(abi.encodeWithSelector(Vault.NotEngine.selector, address(engine)));
        vault.pay(address(engine), 1);
        vm.prank(address(alice));
        vm.expectRevert();
        vault.setEngine(alice);
    }

    // ------------------------------------------------------------------------------ global settlement

    function _everyone() internal view returns (address[] memory list) {
        list = new address[](engine.accountCount());
        for (uint256 i; i < list.length; ++i) {
            list[i] = engine.accounts(i);
        }
    }

    function _settleAndTallyEveryone() internal {
        vm.prank(guardian);
        engine.triggerSettlement();
        engine.tally(_everyone());
    }

    function test_settlementPaysEveryoneTheirShareOnce() public {
        _fund(alice, 50_000 * USD);
        _fund(bob, 20_000 * USD);
        _trade(alice, ETH, 20e18);
        _trade(bob, BTC, -1e18);
        _setPrice(ETH, 3_150e8);
        vm.prank(guardian);
        engine.triggerSettlement();
        vm.prank(alice);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.trade(ETH, 1e18, 0);
        // claims open once every account is tallied
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.TallyIncomplete.selector, 0, engine.accountCount()));
        router.claimSettlement();
        engine.tally(_everyone());
        assertTrue(engine.claimsOpen());
        (, uint256 expected) = engine.settlementPayoutOf(alice);
        assertGt(expected, 50_000 * USD); // alice was in profit
        vm.prank(alice);
        assertEq(router.claimSettlement(), expected);
        assertEq(usdc.balanceOf(alice), expected);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.AlreadyClaimed.selector, alice));
        router.claimSettlement();
        assertLe(engine.totalClaims(), engine.settlementPool());
    }

    /// The hot paths check onlyRouter then whenNotSettled: `router` shares EmergencySettlement's `settled`
    /// slot (slot 11: bool settled at byte 0, uint40 settledAt, then the router), so the second check is a warm
    /// read. If the layout changes, re-check the hot paths' gas.
    function test_settledFlagSharesTheRouterSlot() public {
        bytes32 word = vm.load(address(engine), bytes32(uint256(11)));
        assertEq(address(uint160(uint256(word) >> 48)), address(router));
        assertEq(uint256(word) & 0xff, 0);
        engine.triggerSettlement();
        word = vm.load(address(engine), bytes32(uint256(11)));
        assertEq(uint256(word) & 0xff, 1);
        assertEq((uint256(word) >> 8) & type(uint40).max, block.timestamp);
        assertEq(address(uint160(uint256(word) >> 48)), address(router));
    }

    function test_strangerCannotSettleASolventProtocol() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NotAllowedToSettle.selector, alice));
        engine.triggerSettlement();
    }

    function test_theGuardianSafeIsTheCouncilAndGovernanceTriggersToo() public {
        assertEq(engine.settlementCouncil(), guardian);
        vm.expectEmit(true, false, false, false, address(engine));
        emit EmergencySettlement.SettlementTriggered(gov, EmergencySettlement.Trigger.Governance, 0, 0);
        engine.triggerSettlement(); // this test contract is governance
        assertTrue(engine.settled());
        vm.prank(guardian);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        engine.triggerSettlement();
    }

    function test_anyoneSettlesOnceTheMakerIsInsolvent() public {
        _fund(alice, 100_000 * USD);
        _trade(alice, ETH, 100e18);
        // At the oracle guard's (view) price the maker's short has lost more than its 2M of collateral.
        vm.mockCall(
            address(oracle),
            abi.encodeWithSelector(OracleGuard.viewPrice.selector, ETH),
            abi.encode(uint256(30_000e18), false)
        );
        assertLt(_equity(maker), 0);
        vm.expectEmit(true, false, false, false, address(engine));
        emit EmergencySettlement.SettlementTriggered(alice, EmergencySettlement.Trigger.Insolvency, 0, 0);
        vm.prank(alice);
        engine.triggerSettlement();
    }

    function test_settlementStopsEveryEntryPointAndFreezesPrices() public {
        _fund(alice, 50_000 * USD);
        _trade(alice, ETH, 10e18);
        _settleAndTallyEveryone();
        assertEq(engine.frozenPrice(ETH), 3_000e18);
        assertEq(engine.frozenPrice(BTC), 60_000e18);
        (int256 equityBefore,,) = engine.health(alice);
        _setPrice(ETH, 3_300e8); // the feeds move on; settlement does not
        (int256 equityAfter,,) = engine.health(alice);
        assertEq(equityAfter, equityBefore);
        usdc.mint(alice, 1 * USD);
        vm.startPrank(alice);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.deposit(1 * USD);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.withdraw(1 * USD);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.close(ETH);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.fundInsurance(1 * USD);
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        router.liquidate(bob);
        vm.stopPrank();
        vm.expectRevert(EmergencySettlement.ProtocolSettled.selector);
        engine.sweepFees(gov, 1);
    }

    function test_tallyInBatchesSkipsDuplicatesAndStrangers() public {
        _fund(alice, 50_000 * USD);
        _fund(bob, 20_000 * USD);
        _trade(alice, ETH, 20e18);
        vm.prank(guardian);
        engine.triggerSettlement();
        address[] memory all = _everyone(); // maker, alice, bob
        assertEq(engine.claimantCount(), all.length);
        address[] memory batch = new address[](3);
        (batch[0], batch[1], batch[2]) = (alice, alice, makeAddr("stranger"));
        assertEq(engine.tally(batch), 1);
        assertEq(engine.tally(batch), 0); // a second tally changes nothing
        assertEq(engine.talliedAccounts(), 1);
        (uint256 aliceClaim,) = engine.settlementPayoutOf(alice);
        assertEq(engine.totalClaims(), aliceClaim);
        assertFalse(engine.claimsOpen());
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.TallyIncomplete.selector, 1, all.length));
        router.claimSettlement();
        vm.expectEmit(false, false, false, false, address(engine));
        emit EmergencySettlement.ClaimsOpened(0, 0);
        assertEq(engine.tally(all), all.length - 1);
        assertTrue(engine.claimsOpen());
        vm.prank(alice);
        router.claimSettlement();
    }

    function test_claimDirectlyOrThroughTheRouterButOnce() public {
        _fund(alice, 50_000 * USD);
        _settleAndTallyEveryone();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.NotRouter.selector, bob));
        engine.claimSettlementFor(alice);
        vm.prank(alice);
        assertEq(engine.claimSettlement(), 50_000 * USD);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.AlreadyClaimed.selector, alice));
        router.claimSettlement();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(EmergencySettlement.NothingToClaim.selector, bob));
        router.claimSettlement();
    }

    /// An underwater account left unliquidated: the positive claims exceed the pool, so every payout is cut
    /// pro rata. Each payout is the share, and together they never exceed the pool.
    function test_haircutPayoutsAreTheSharesAndSumToAtMostThePool() public {
        _fund(alice, 400_000 * USD);
        _fund(bob, 30_000 * USD);
        _trade(alice, ETH, 1_300e18); // 3.9M notional on 400k
        _trade(bob, BTC, 1e18);
        _setPrice(ETH, 2_580e8); // -14%: alice is ~150k under water, more than the 100k insurance fund
        assertLt(_equity(alice), -100_000 * int256(USD));
        _settleAndTallyEveryone();
        uint256 pool = engine.settlementPool();
        uint256 claims = engine.totalClaims();
        assertLt(pool, claims, "a haircut");
        assertEq(pool, vault.freeBalance());
        address[] memory all = _everyone();
        uint256 paid;
        uint256 vaultBefore = usdc.balanceOf(address(vault));
        for (uint256 i; i < all.length; ++i) {
            (uint256 claim, uint256 payout) = engine.settlementPayoutOf(all[i]);
            assertEq(payout, claim * pool / claims);
            if (claim == 0) continue;
            uint256 before = usdc.balanceOf(all[i]);
            vm.prank(all[i]);
            assertEq(router.claimSettlement(), payout);
            assertEq(usdc.balanceOf(all[i]) - before, payout);
            paid += payout;
        }
        (uint256 aliceClaim,) = engine.settlementPayoutOf(alice);
        assertEq(aliceClaim, 0, "an account in bad debt claims nothing");
        assertLe(paid, pool);
        assertGe(paid + all.length, pool, "rounding loses at most one unit per claimant");
        assertEq(engine.paidTotal(), paid);
        assertEq(vaultBefore - usdc.balanceOf(address(vault)), paid);
    }
}
