// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ProtocolBase} from "./ProtocolBase.sol";
import {ClearingEngine} from "../../contracts/protocol/ClearingEngine.sol";
import {Router} from "../../contracts/protocol/Router.sol";
import {Vault} from "../../contracts/protocol/Vault.sol";
import {PauseOps} from "../../contracts/guards/PauseOps.sol";
import {ScopedPause} from "../../contracts/guards/ScopedPause.sol";
import {TxInvariantGuard} from "../../contracts/guards/TxInvariantGuard.sol";

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
        vm.prank(guardian);
        router.pause(1, PauseOps.bit(PauseOps.OPEN), 1 hours);
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
        vm.mockCall(address(engine), abi.encodeWithSelector(ClearingEngine.obligations.selector), abi.encode(int256(1e30)));
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

    function test_settlementPaysEveryoneTheirShareOnce() public {
        _fund(alice, 50_000 * USD);
        _fund(bob, 20_000 * USD);
        _trade(alice, ETH, 20e18);
        _trade(bob, BTC, -1e18);
        _setPrice(ETH, 3_150e8);
        vm.prank(guardian);
        engine.triggerSettlement();
        vm.prank(alice);
        vm.expectRevert(ClearingEngine.Settled.selector);
        router.trade(ETH, 1e18, 0);
        // claims open once every account is tallied
        address[] memory everyone = new address[](engine.accountCount());
        for (uint256 i; i < everyone.length; ++i) everyone[i] = engine.accounts(i);
        vm.prank(alice);
        vm.expectRevert();
        router.claimSettlement();
        engine.tally(everyone);
        uint256 expected = engine.settlementPayout(alice);
        assertGt(expected, 50_000 * USD); // alice was in profit
        vm.prank(alice);
        router.claimSettlement();
        assertEq(usdc.balanceOf(alice), expected);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ClearingEngine.NothingToClaim.selector, alice));
        router.claimSettlement();
        assertLe(engine.totalClaims(), engine.settlementPool());
    }

    function test_strangerCannotSettleASolventProtocol() public {
        vm.prank(alice);
        vm.expectRevert(ClearingEngine.NotInsolvent.selector);
        engine.triggerSettlement();
    }
}
