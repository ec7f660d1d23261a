// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Test.sol";
import {ProtocolBase} from "./ProtocolBase.sol";
import {ClearingEngine} from "../../contracts/protocol/ClearingEngine.sol";
import {MockAggregator} from "../../contracts/world/MockAggregator.sol";

/// @notice Issue 10, class 3: during a deviation episode (the guard holds its last good price) a close is
///         filled at the worst, for the account, of the held price and every source's answer, clamped
///         into the reference's band: nobody leaves with the held price's gift, and a lagging or lying
///         source costs an honest account at most the band.
contract ExitPricingTest is ProtocolBase {
    address internal alice = makeAddr("alice");

    /// @dev The fill price of `who`'s last position change, from the PositionChanged event.
    function _closeAndFill(address who, bytes32 market) internal returns (uint256 fill) {
        vm.recordLogs();
        vm.prank(who);
        router.close(market);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = ClearingEngine.PositionChanged.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == topic && logs[i].topics[1] == bytes32(uint256(uint160(who)))) {
                (, fill,,,) = abi.decode(logs[i].data, (int256, uint256, int256, int256, uint256));
            }
        }
        assertGt(fill, 0, "no PositionChanged for the close");
    }

    /// @notice The lagging-feed crash: the primary follows a -15% market, the secondary lags, the guard holds
    ///         3,000. The long's close is filled at the market (2,550), not at the held price.
    function test_longCloseDuringALaggingFeedIsFilledAtTheMarket() public {
        _fund(alice, 60_000 * USD);
        _trade(alice, ETH, 100e18);
        ethFeed.setAnswer(2_550e8);
        (uint256 held, bool reduceOnly) = oracle.viewPrice(ETH);
        assertTrue(reduceOnly);
        assertEq(held, 3_000e18, "the guard holds its last good price");
        assertEq(_closeAndFill(alice, ETH), 2_550e18);
        // It kept what an exit at the market leaves: 60,000 - 45,000 loss - fee at 2,550.
        assertLe(engine.collateralOf(alice), int256(15_000 * USD));
        _assertSolvent();
    }

    /// @notice A rising market with the primary lagging: the short buys back at the secondary's higher price.
    function test_shortCloseDuringARiseIsFilledAtTheHighestSource() public {
        _fund(alice, 60_000 * USD);
        _trade(alice, ETH, -100e18);
        ethFeed2.setAnswer(3_300e8);
        assertEq(_closeAndFill(alice, ETH), 3_300e18);
        _assertSolvent();
    }

    /// @notice Variants: long or short, either feed moving, 3-30% either way. The fill is never better for
    ///         the account than the held price or any feed's answer (a sale at most the lowest, a purchase
    ///         at least the highest), and never worse than the worst of them (no reference configured).
    function testFuzz_closeDuringAFailureIsFilledAtTheWorstSource(
        bool long,
        bool primaryMoves,
        bool up,
        uint256 moveBps
    ) public {
        moveBps = bound(moveBps, 300, 3_000);
        _fund(alice, 200_000 * USD);
        _trade(alice, ETH, long ? int256(50e18) : -int256(50e18));
        int256 moved = int256(3_000e8 * (up ? 10_000 + moveBps : 10_000 - moveBps) / 10_000);
        (primaryMoves ? ethFeed : ethFeed2).setAnswer(moved);
        (, bool reduceOnly) = oracle.viewPrice(ETH);
        assertTrue(reduceOnly);
        uint256 other = uint256(moved) * 1e10;
        uint256 worst = long ? (other < 3_000e18 ? other : 3_000e18) : (other > 3_000e18 ? other : 3_000e18);
        assertEq(_closeAndFill(alice, ETH), worst);
        _assertSolvent();
    }

    /// @notice With an independent reference, a lagging feed far from the market costs an honest account at
    ///         most the reference's band: the short's fill is clamped to reference + 10%.
    function test_referenceBandBoundsTheFill() public {
        MockAggregator ref = new MockAggregator(8, "reference", address(this));
        ref.setAnswer(3_000e8);
        oracle.setReference(ETH, address(ref), 1 hours, 1_000);
        _fund(alice, 200_000 * USD);
        _trade(alice, ETH, -50e18);
        address bob = makeAddr("bob");
        _fund(bob, 200_000 * USD);
        _trade(bob, ETH, 50e18);
        // The market falls 20%: the primary and the reference follow, the secondary lags at 3,000.
        ethFeed.setAnswer(2_400e8);
        ref.setAnswer(2_500e8);
        // The short buys back no higher than 2,750 (reference + 10%), not at the lagging 3,000.
        assertEq(_closeAndFill(alice, ETH), 2_750e18);
        // The long sells at the lowest source inside the band: the primary's 2,400.
        assertEq(_closeAndFill(bob, ETH), 2_400e18);
        _assertSolvent();
    }

    /// @notice A healthy market is untouched: a close is filled at the guard's price.
    function test_healthyMarketFillsAtTheGuardPrice() public {
        _fund(alice, 60_000 * USD);
        _trade(alice, ETH, 10e18);
        _setPrice(ETH, 3_030e8);
        (, bool reduceOnly) = oracle.viewPrice(ETH);
        assertFalse(reduceOnly);
        assertEq(_closeAndFill(alice, ETH), 3_030e18);
    }

    /// @notice A guardian forcing with agreeing feeds changes nothing either: the range is one price.
    function test_forcedReduceOnlyWithAgreeingFeedsFillsAtTheFeeds() public {
        _fund(alice, 60_000 * USD);
        _trade(alice, ETH, 10e18);
        vm.prank(guardian);
        oracle.forceReduceOnly(ETH, 1 hours);
        assertEq(_closeAndFill(alice, ETH), 3_000e18);
    }
}
