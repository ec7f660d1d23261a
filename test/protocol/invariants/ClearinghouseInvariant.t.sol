// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {ProtocolBase} from "../ProtocolBase.sol";
import {ClearingEngine} from "../../../contracts/protocol/ClearingEngine.sol";
import {Router} from "../../../contracts/protocol/Router.sol";
import {Vault} from "../../../contracts/protocol/Vault.sol";
import {MintableToken} from "../../../contracts/world/MintableToken.sol";
import {MockAggregator} from "../../../contracts/world/MockAggregator.sol";
import {PauseOps} from "../../../contracts/guards/PauseOps.sol";

/// @dev Trades, moves prices, liquidates, pauses and settles at random, and records every exit that
///      failed while the guards said it should work.
contract ClearinghouseHandler is Test {
    bytes32 internal constant ETH = "ETH-PERP";
    bytes32 internal constant BTC = "BTC-PERP";
    uint256 internal constant USD = 1e6;

    ClearingEngine internal engine;
    Router internal router;
    Vault internal vault;
    MintableToken internal usdc;
    MockAggregator[4] internal feeds; // eth primary, eth secondary, btc primary, btc secondary
    address internal guardian;
    address[3] internal traders;

    uint256 public calls;
    uint256 public failedExits;
    uint256 public failedLiquidations;
    uint256 public settlementOverpaid;
    uint256 public settlementMispaid;
    uint256 public liquidations;

    constructor(
        ClearingEngine engine_,
        Router router_,
        MintableToken usdc_,
        MockAggregator[4] memory feeds_,
        address guardian_
    ) {
        engine = engine_;
        router = router_;
        vault = engine_.vault() == engine_.vault() ? Vault(address(engine_.vault())) : Vault(address(0));
        usdc = usdc_;
        feeds = feeds_;
        guardian = guardian_;
        for (uint256 i; i < 3; ++i) {
            traders[i] = makeAddr(string(abi.encodePacked("trader", vm.toString(i))));
            vm.prank(traders[i]);
            usdc.approve(address(vault), type(uint256).max);
        }
    }

    function _market(uint256 seed) internal pure returns (bytes32) {
        return seed % 2 == 0 ? ETH : BTC;
    }

    function deposit(uint256 who, uint256 amount) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        amount = bound(amount, 1_000 * USD, 60_000 * USD);
        vm.prank(usdc.owner());
        usdc.mint(t, amount);
        vm.prank(t);
        try router.deposit(amount) {} catch {}
    }

    function withdraw(uint256 who, uint256 amount) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        int256 c = engine.collateralOf(t);
        if (c <= 0) return;
        amount = bound(amount, 1, uint256(c));
        vm.prank(t);
        try router.withdraw(amount) {} catch {}
    }

    function trade(uint256 who, uint256 m, int256 delta) external {
        if (engine.settled()) return;
        ++calls;
        bytes32 market = _market(m);
        delta = bound(delta, -60e18, 60e18);
        if (market == BTC) delta /= 20;
        if (delta == 0) return;
        vm.prank(traders[who % 3]);
        try router.trade(market, delta, 0) {} catch {}
    }

    /// @dev Closing must work whenever the market's CLOSE op is not paused and the protocol is live.
    function closePosition(uint256 who, uint256 m) external {
        if (engine.settled()) return;
        ++calls;
        bytes32 market = _market(m);
        address t = traders[who % 3];
        if (engine.positionOf(t, market).size == 0) return;
        if (router.isPaused(PauseOps.CLOSE, router.pauseScopeOf(market))) return;
        vm.prank(t);
        try router.close(market) {} catch {
            ++failedExits;
        }
    }

    function movePrice(uint256 m, uint256 bps, bool up) external {
        ++calls;
        uint256 i = (m % 2) * 2;
        (, int256 answer,,,) = feeds[i].latestRoundData();
        int256 step = (answer * int256(bound(bps, 0, 1_200))) / 10_000;
        int256 next = up ? answer + step : answer - step;
        if (next <= 0) return;
        skip(10 minutes);
        vm.startPrank(feeds[i].feeder());
        feeds[i].setAnswer(next);
        feeds[i + 1].setAnswer(next);
        vm.stopPrank();
    }

    function passTime(uint256 secs) external {
        ++calls;
        skip(bound(secs, 1, 12 hours));
        // keep the feeds fresh, as the feeder does
        for (uint256 i; i < 4; ++i) {
            (, int256 answer,,,) = feeds[i].latestRoundData();
            vm.prank(feeds[i].feeder());
            feeds[i].setAnswer(answer);
        }
    }

    /// @dev A liquidatable account must be liquidatable even while trading is paused, except in the grace
    ///      period after a pause (when its equity is still positive).
    function liquidate(uint256 who) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        (int256 equity, uint256 maintenance,) = engine.health(t);
        bool hasPosition = engine.positionOf(t, ETH).size != 0 || engine.positionOf(t, BTC).size != 0;
        if (!hasPosition || equity >= int256(maintenance)) return;
        bool inGrace = block.timestamp < router.liquidationGraceEnds(1) || block.timestamp < router.liquidationGraceEnds(2);
        try router.liquidate(t) {
            ++liquidations;
        } catch {
            if (!inGrace || equity < 0) ++failedLiquidations;
        }
    }

    function guardianPause(uint256 m, uint256 duration) external {
        if (engine.settled()) return;
        ++calls;
        uint32 ops = PauseOps.bit(PauseOps.OPEN) | PauseOps.bit(PauseOps.DEPOSIT);
        vm.prank(guardian);
        try router.pause(m % 3, ops, bound(duration, 1 hours, 24 hours)) {} catch {}
    }

    /// @dev Rare: settle, tally everyone, and check every payout.
    function settle(uint256 dice) external {
        if (engine.settled() || dice % 397 != 13) return; // rare, and not on the fuzzer's favourite value 0
        ++calls;
        vm.prank(guardian);
        engine.triggerSettlement();
        uint256 n = engine.accountCount();
        address[] memory everyone = new address[](n);
        for (uint256 i; i < n; ++i) everyone[i] = engine.accounts(i);
        engine.tally(everyone);
        uint256 paid;
        for (uint256 i; i < n; ++i) {
            (, uint256 expected) = engine.settlementPayoutOf(everyone[i]);
            if (expected == 0) continue;
            uint256 before = usdc.balanceOf(everyone[i]);
            vm.prank(everyone[i]);
            try router.claimSettlement() {
                if (usdc.balanceOf(everyone[i]) - before != expected) ++settlementMispaid;
                paid += expected;
            } catch {
                ++settlementMispaid;
            }
        }
        if (paid > engine.settlementPool()) ++settlementOverpaid;
    }
}

contract ClearinghouseInvariantTest is ProtocolBase {
    ClearinghouseHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new ClearinghouseHandler(engine, router, usdc, [ethFeed, ethFeed2, btcFeed, btcFeed2], guardian);
        usdc.transferOwnership(address(handler));
        vm.prank(address(handler));
        usdc.transferOwnership(address(handler));
        // the handler acts as the honest feeder too
        ethFeed.setFeeder(address(handler));
        ethFeed2.setFeeder(address(handler));
        btcFeed.setFeeder(address(handler));
        btcFeed2.setFeeder(address(handler));
        targetContract(address(handler));
    }

    /// @notice The run reached the states the other invariants are about (a guard against a vacuous handler).
    function afterInvariant() public view {
        assertGt(handler.calls(), 0);
    }

    /// @dev The handler's paths reach what the invariants are about: a liquidation, a close, a settlement.
    function test_handlerReachesLiquidationCloseAndSettlement() public {
        handler.deposit(0, 5_000 * USD);
        handler.trade(0, 0, 15e18); // 45,000 notional on 5,000: 9x long ETH
        handler.deposit(1, 50_000 * USD);
        handler.trade(1, 0, -5e18);
        handler.movePrice(0, 1_000, false); // -10%
        handler.liquidate(0);
        assertEq(handler.liquidations(), 1);
        handler.closePosition(1, 0);
        assertEq(engine.positionOf(makeAddr("trader1"), ETH).size, 0);
        handler.settle(13);
        assertTrue(engine.settled());
        assertEq(handler.failedExits() + handler.failedLiquidations() + handler.settlementMispaid(), 0);
    }

    /// @notice No transaction leaves the vault owing more than it holds.
    function invariant_vaultSolvent() public view {
        if (engine.settled()) return;
        assertGe(int256(vault.freeBalance()), engine.obligations());
    }

    /// @notice Balance == Σ equity + insurance + fees, up to rounding that only ever favours the protocol
    ///         (at most 3 base units per call).
    function invariant_booksBalanceWithinRounding() public view {
        if (engine.settled()) return;
        int256 surplus = int256(vault.freeBalance()) - engine.obligations();
        assertGe(surplus, 0);
        assertLe(surplus, int256(3 * (handler.calls() + 1)));
    }

    /// @notice Exits work whenever the guards say they should; liquidations work while pauses are active.
    function invariant_exitsAndLiquidationsWork() public view {
        assertEq(handler.failedExits(), 0, "a close failed while exits were allowed");
        assertEq(handler.failedLiquidations(), 0, "a due liquidation failed");
    }

    /// @notice After settlement every account withdraws exactly its share, and no more than the pool.
    function invariant_settlementPaysShares() public view {
        assertEq(handler.settlementMispaid(), 0);
        assertEq(handler.settlementOverpaid(), 0);
    }
}
