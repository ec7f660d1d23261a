// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "forge-std/Test.sol";
import {ProtocolBase} from "../ProtocolBase.sol";
import {ClearingEngine} from "../../../contracts/protocol/ClearingEngine.sol";
import {Router} from "../../../contracts/protocol/Router.sol";
import {Vault} from "../../../contracts/protocol/Vault.sol";
import {MintableToken} from "../../../contracts/world/MintableToken.sol";
import {MockAggregator} from "../../../contracts/world/MockAggregator.sol";
import {PauseOps} from "../../../contracts/guards/PauseOps.sol";
import {OracleGuard} from "../../../contracts/guards/OracleGuard.sol";
import {ParameterRegistry} from "../../../contracts/governance/ParameterRegistry.sol";

/// @dev Trades, moves prices (both feeds, or one alone: deviations, single-feed jumps, stale feeds),
///      liquidates, pauses (guardian and governance, exits included), changes parameters (guardian, RISK and
///      governance) and settles at random. It records what failed against a model written from the
///      documented rules, not from the code: exits work unless paused; a due liquidation waits only while a
///      governance pause of exits (close, add collateral) covering the market runs or ended less than the
///      grace ago, and only for an account that was safe when that pause began; a LIQUIDATE pause of a
///      market holds; no withdrawal leaves an account in deficit at a price a feed shows.
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
    address internal gov;
    address internal risk;
    address[3] internal traders;

    uint256 internal constant GRACE = 4 hours;
    /// @dev Model of governance pauses of exits, per scope (0 all, 1 ETH, 2 BTC): start and end.
    uint256[3] internal exitPauseStart;
    uint256[3] internal exitPauseEnd;
    /// @dev Per scope and trader: was the trader safe (equity >= maintenance) when that exit pause began.
    mapping(uint256 scope => mapping(address => bool)) internal safeAtExitPause;
    /// @dev Last time the trader changed its own account (deposit, withdrawal, trade, close), and last
    ///      parameter change: after either, "safe at the pause's start" is no longer the model's to judge.
    mapping(address => uint256) internal lastAction;
    uint256 internal lastParamChange;

    uint256 public unsafeWithdrawals; // F5: a withdrawal left the account in deficit at a shown price
    uint256 public liquidatedWhilePaused; // F6
    uint256 public oracleFailures; // withdrawals tried while a market failed its checks
    uint256 public failingCloses; // closes that went through while their market failed its checks
    uint256 public giftedCloses; // class 3: such a close filled better than a feed's answer
    uint256 public guardianPauses;
    uint256 public governancePauses;
    uint256 public paramChanges;

    /// @dev Model of each trader's profit record, from the documented rule (docs/powers.md): profit realised
    ///      joins the record while it is locked (vesting delay after its latest part) or while withdrawals are
    ///      paused in every market; otherwise it starts a new record. Fed by the PositionChanged events.
    struct ModelRecord {
        uint256 amount;
        uint256 first;
        uint256 last;
    }

    mapping(address => ModelRecord) internal model;
    uint256 public profitVoids; // governance voids that moved something
    uint256 public voidMismatches; // a void that moved other than min(cap, record, collateral), or out of window

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
        address guardian_,
        address gov_,
        address risk_
    ) {
        gov = gov_;
        risk = risk_;
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
        try router.deposit(amount) {
            lastAction[t] = block.timestamp;
        } catch {}
    }

    /// @dev Half the time asks for exactly what the view prices allow (the edge a failing feed makes unsafe).
    function withdraw(uint256 who, uint256 amount) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        // Prefer a trader with a position: their withdrawals are the ones margin rules judge.
        for (uint256 k; k < 3 && !_hasPosition(t); ++k) {
            t = traders[(who + k + 1) % 3];
        }
        int256 c = engine.collateralOf(t);
        if (c <= 0) return;
        (int256 equity,, uint256 initial) = engine.health(t);
        if (amount % 2 == 0 && equity > int256(initial) && uint256(equity) - initial <= uint256(c)) {
            amount = uint256(equity) - initial;
        } else {
            amount = bound(amount, 1, uint256(c));
        }
        if (amount == 0) return;
        bool failing = _failing(ETH) || _failing(BTC);
        if (failing) ++oracleFailures;
        vm.prank(t);
        try router.withdraw(amount) {
            lastAction[t] = block.timestamp;
            if (_worstEquity(t) < 0) ++unsafeWithdrawals;
        } catch {}
    }

    function _hasPosition(address t) internal view returns (bool) {
        return engine.positionOf(t, ETH).size != 0 || engine.positionOf(t, BTC).size != 0;
    }

    function _failing(bytes32 market) internal view returns (bool reduceOnly) {
        (, reduceOnly) = engine.oracle().viewPrice(market);
    }

    /// @dev The model's equity of `t`: collateral plus, per position, size x (worst price any feed shows
    ///      now, or the held price) - cost basis. Funding is left out and allowed for with 1% of notional.
    function _worstEquity(address t) internal view returns (int256 equity) {
        equity = engine.collateralOf(t) * 1e12;
        for (uint256 m; m < 2; ++m) {
            bytes32 market = m == 0 ? ETH : BTC;
            ClearingEngine.Position memory p = engine.positionOf(t, market);
            if (p.size == 0) continue;
            (uint256 held,,) = OracleGuard(address(engine.oracle())).lastGoodPrice(market);
            uint256 worst = held;
            for (uint256 k; k < 2; ++k) {
                (, int256 answer,,,) = feeds[m * 2 + k].latestRoundData();
                uint256 a = uint256(answer) * 1e10;
                if (p.size > 0 ? a < worst : a > worst) worst = a;
            }
            int256 value = (int256(p.size) * int256(worst)) / 1e18;
            equity += value - p.openNotional + (value >= 0 ? value : -value) / 100;
        }
    }

    function trade(uint256 who, uint256 m, int256 delta) external {
        if (engine.settled()) return;
        ++calls;
        bytes32 market = _market(m);
        delta = bound(delta, -60e18, 60e18);
        if (market == BTC) delta /= 20;
        if (delta == 0) return;
        vm.prank(traders[who % 3]);
        vm.recordLogs();
        try router.trade(market, delta, 0) {
            lastAction[traders[who % 3]] = block.timestamp;
            _recordProfit(vm.getRecordedLogs());
        } catch {}
    }

    /// @dev Feed the model the realised profit of the call just made (PositionChanged, realized > 0).
    function _recordProfit(Vm.Log[] memory logs) internal {
        bytes32 topic = ClearingEngine.PositionChanged.selector;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(engine) || logs[i].topics[0] != topic) continue;
            address who = address(uint160(uint256(logs[i].topics[1])));
            (,,, int256 realized,) = abi.decode(logs[i].data, (int256, uint256, int256, int256, uint256));
            if (realized <= 0) continue;
            ModelRecord storage r = model[who];
            bool locked = r.amount != 0 && r.last + engine.profitVestingDelay() > block.timestamp;
            bool paused = router.isPaused(PauseOps.WITHDRAW, PauseOps.ALL_MARKETS);
            if (r.amount == 0 || !(locked || paused)) (r.amount, r.first) = (0, block.timestamp);
            r.amount += uint256(realized);
            r.last = block.timestamp;
        }
    }

    /// @dev Governance voids one trader's incident profit over a window ending now, with a random cap.
    function voidIncidentProfit(uint256 who, uint256 lookback, uint256 capSeed) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        uint256 from = block.timestamp - bound(lookback, 0, block.timestamp < 3 days ? block.timestamp : 3 days);
        uint256 cap = capSeed % 2 == 0 ? type(uint256).max : bound(capSeed, 1, 20_000 * USD);
        ModelRecord memory r = model[t];
        int256 c = engine.collateralOf(t);
        uint256 expected;
        if (r.amount != 0 && r.last >= from && c > 0) {
            expected = cap < r.amount ? cap : r.amount;
            if (uint256(c) < expected) expected = uint256(c);
        }
        uint256 insuranceBefore = engine.insuranceFund();
        address[] memory who_ = new address[](1);
        who_[0] = t;
        uint256[] memory caps = new uint256[](1);
        caps[0] = cap;
        vm.prank(gov);
        vault.voidProfit(who_, caps, from, block.timestamp, bytes32("incident"));
        uint256 moved = engine.insuranceFund() - insuranceBefore;
        if (moved != expected || engine.collateralOf(t) != c - int256(moved)) ++voidMismatches;
        if (moved != 0) ++profitVoids;
        if (r.amount != 0 && r.last >= from) delete model[t]; // the record ended
    }

    /// @dev Closing must work whenever the market's CLOSE op is not paused and the protocol is live.
    function closePosition(uint256 who, uint256 m) external {
        if (engine.settled()) return;
        ++calls;
        bytes32 market = _market(m);
        address t = traders[who % 3];
        if (engine.positionOf(t, market).size == 0) return;
        if (router.isPaused(PauseOps.CLOSE, router.pauseScopeOf(market))) return;
        bool failing = _failing(market);
        int256 size = engine.positionOf(t, market).size;
        vm.prank(t);
        vm.recordLogs();
        try router.close(market) {
            lastAction[t] = block.timestamp;
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _recordProfit(logs);
            if (failing) {
                ++failingCloses;
                if (_giftedFill(logs, t, market, size)) ++giftedCloses;
            }
        } catch {
            ++failedExits;
        }
    }

    /// @dev Class 3's model: a close in a failing market is filled no better for the account than any
    ///      feed's answer (a long sells at most at the lowest, a short buys back at least at the highest).
    function _giftedFill(Vm.Log[] memory logs, address t, bytes32 market, int256 size) internal view returns (bool) {
        uint256 fill;
        for (uint256 i; i < logs.length; ++i) {
            if (
                logs[i].topics[0] == ClearingEngine.PositionChanged.selector
                    && logs[i].topics[1] == bytes32(uint256(uint160(t)))
            ) (, fill,,,) = abi.decode(logs[i].data, (int256, uint256, int256, int256, uint256));
        }
        uint256 m = market == ETH ? 0 : 1;
        for (uint256 k; k < 2; ++k) {
            (, int256 answer,,,) = feeds[m * 2 + k].latestRoundData();
            uint256 a = uint256(answer) * 1e10;
            if (size > 0 ? fill > a : fill < a) return true;
        }
        return false;
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

    /// @dev One feed alone moves: the feeds disagree (a deviation, or a jump only one source shows).
    function moveOneFeed(uint256 m, uint256 bps, bool up, bool secondary) external {
        ++calls;
        uint256 i = (m % 2) * 2 + (secondary ? 1 : 0);
        (, int256 answer,,,) = feeds[i].latestRoundData();
        int256 step = (answer * int256(bound(bps, 300, 3_000))) / 10_000;
        int256 next = up ? answer + step : answer - step;
        if (next <= 0) return;
        vm.prank(feeds[i].feeder());
        feeds[i].setAnswer(next);
    }

    /// @dev The other feed follows: a one-feed move is confirmed (or undone).
    function confirmFeeds(uint256 m, bool toSecondary) external {
        ++calls;
        uint256 i = (m % 2) * 2;
        (, int256 a,,,) = feeds[toSecondary ? i + 1 : i].latestRoundData();
        vm.startPrank(feeds[i].feeder());
        feeds[i].setAnswer(a);
        feeds[i + 1].setAnswer(a);
        vm.stopPrank();
    }

    /// @dev Time passes and one feed stops updating (stale once past its heartbeat).
    function passTimeOneFeedStale(uint256 secs, uint256 stale) external {
        ++calls;
        skip(bound(secs, 1, 4 hours));
        for (uint256 i; i < 4; ++i) {
            if (i == stale % 4) continue;
            (, int256 answer,,,) = feeds[i].latestRoundData();
            vm.prank(feeds[i].feeder());
            feeds[i].setAnswer(answer);
        }
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

    /// @dev A due liquidation must go through unless, by the model, LIQUIDATE is paused in a scope of one
    ///      of the account's markets, or the account is in the grace of a governance pause of exits that
    ///      began while it was safe (and it has not turned to bad debt, and has not topped up since).
    function liquidate(uint256 who) external {
        if (engine.settled()) return;
        ++calls;
        address t = traders[who % 3];
        (int256 equity, uint256 maintenance,) = engine.health(t);
        bool[2] memory inMarket = [engine.positionOf(t, ETH).size != 0, engine.positionOf(t, BTC).size != 0];
        if (!(inMarket[0] || inMarket[1]) || equity >= int256(maintenance)) return;
        bool paused;
        bool excused;
        ParameterRegistry reg = ParameterRegistry(address(engine.registry()));
        for (uint256 m; m < 2; ++m) {
            if (!inMarket[m]) continue;
            if (router.isPaused(PauseOps.LIQUIDATE, m + 1)) paused = true;
            // Liquidations use the registry's base (docs/powers.md): while an emergency override or RISK's
            // grace makes the effective maintenance differ, the view's "due" is not the engine's.
            bytes32 mmKey = reg.keyOf(m == 0 ? ETH : BTC, engine.P_MAINTENANCE_MARGIN_BPS());
            if (reg.get(mmKey) != reg.getWithGrace(mmKey)) excused = true;
            for (uint256 k; k < 2; ++k) {
                uint256 scope = k == 0 ? 0 : m + 1;
                if (exitPauseEnd[scope] == 0 || block.timestamp >= exitPauseEnd[scope] + GRACE) continue;
                uint256 start = exitPauseStart[scope];
                if (safeAtExitPause[scope][t] || lastAction[t] >= start || lastParamChange >= start) excused = true;
            }
        }
        try router.liquidate(t) {
            ++liquidations;
            if (paused) ++liquidatedWhilePaused;
        } catch {
            if (!paused && (!excused || equity < 0)) ++failedLiquidations;
        }
    }

    /// @dev The guardian pauses any mix of the ops it may pause (never exits) in any scope.
    function guardianPause(uint256 m, uint256 opsSeed, uint256 duration) external {
        if (engine.settled()) return;
        ++calls;
        uint32 ops = uint32(bound(opsSeed, 1, 63)); // DEPOSIT .. FLASH_LOAN
        vm.prank(guardian);
        try router.pause(m % 3, ops, bound(duration, 1 hours, 24 hours)) {
            ++guardianPauses;
        } catch {}
    }

    /// @dev Governance pauses any ops, exits included; the model records when a pause of exits began and
    ///      who was safe then.
    function governancePause(uint256 m, uint256 opsSeed, uint256 duration) external {
        // Governance is slow: one call in four acts (a pause of exits excuses liquidations for a while).
        if (engine.settled() || m % 4 != 0) return;
        m /= 4;
        ++calls;
        uint256 scope = m % 3;
        // Exits (CLOSE, ADD_COLLATERAL, LIQUIDATE) and entries, some of each.
        uint32 ops = uint32(bound(opsSeed, 1, 15)) << 8 | uint32(opsSeed >> 8 & 63);
        ops &= ~(opsSeed % 3 == 0 ? 0 : PauseOps.bit(PauseOps.LIQUIDATE));
        duration = bound(duration, 1 hours, 12 hours);
        bool exitOps = ops & (PauseOps.bit(PauseOps.CLOSE) | PauseOps.bit(PauseOps.ADD_COLLATERAL)) != 0;
        bool running = exitPauseEnd[scope] > block.timestamp;
        vm.prank(gov);
        router.pause(scope, ops, duration);
        ++governancePauses;
        if (exitOps && !running) {
            exitPauseStart[scope] = block.timestamp;
            for (uint256 i; i < 3; ++i) {
                (int256 e, uint256 mm,) = engine.health(traders[i]);
                // 2% of slack: funding accrued by others' trades moves equity a little afterwards.
                safeAtExitPause[scope][traders[i]] = e >= int256(mm * 98 / 100);
            }
        }
        // A governance pause sets the scope's end; the exits' pause lasts as long if they were in it.
        if (exitOps || running) exitPauseEnd[scope] = block.timestamp + duration;
    }

    /// @dev The guardian or RISK tightens a margin for a while; governance sets a base (may loosen).
    function changeParam(uint256 which, uint256 value, uint256 ttl, uint256 by) external {
        if (engine.settled()) return;
        ++calls;
        bytes32 name = which % 2 == 0 ? engine.P_MAINTENANCE_MARGIN_BPS() : engine.P_INITIAL_MARGIN_BPS();
        ParameterRegistry reg = ParameterRegistry(address(engine.registry()));
        bytes32 key = reg.keyOf(which % 4 < 2 ? ETH : BTC, name);
        (uint256 cur,,,) = reg.state(key);
        if (by % 3 == 2) {
            vm.prank(gov);
            try reg.setBase(key, bound(value, cur / 2 + 1, cur * 2), bytes32("gov")) {
                ++paramChanges;
                lastParamChange = block.timestamp;
            } catch {}
        } else {
            vm.prank(by % 3 == 0 ? guardian : risk);
            try reg.emergencyTighten(key, cur + bound(value, 1, 250), bound(ttl, 1, 7 days), bytes32("tighten")) {
                ++paramChanges;
                (,,, uint256 until) = reg.state(key);
                if (until > lastParamChange) lastParamChange = until; // its expiry loosens again
            } catch {}
        }
    }

    function setTxOutflow(uint256 bps) external {
        if (engine.settled()) return;
        ++calls;
        vm.prank(gov);
        router.setMaxTxOutflow(bound(bps, 100, 10_000));
    }

    /// @dev Rare: settle, tally everyone, and check every payout.
    function settle(uint256 dice) external {
        // Late in a run (the other states first), then about one call in seven; never on the fuzzer's
        // favourite value 0.
        if (engine.settled() || calls < 48 || dice % 7 != 3) return;
        ++calls;
        vm.prank(guardian);
        engine.triggerSettlement();
        uint256 n = engine.accountCount();
        address[] memory everyone = new address[](n);
        for (uint256 i; i < n; ++i) {
            everyone[i] = engine.accounts(i);
        }
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
        handler =
            new ClearinghouseHandler(engine, router, usdc, [ethFeed, ethFeed2, btcFeed, btcFeed2], guardian, gov, risk);
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
        for (uint256 i; i < 48; ++i) {
            handler.passTime(1);
        }
        handler.settle(3);
        assertTrue(engine.settled());
        assertEq(handler.failedExits() + handler.failedLiquidations() + handler.settlementMispaid(), 0);
    }

    /// @dev The handler reaches oracle failures, pauses by both roles and parameter changes.
    function test_handlerReachesFailuresPausesAndParameterChanges() public {
        handler.deposit(0, 60_000 * USD);
        handler.trade(0, 0, 60e18);
        handler.moveOneFeed(0, 2_000, false, false);
        handler.withdraw(0, 2);
        assertEq(handler.oracleFailures(), 1);
        // class 3: the long closes while the primary shows -20%: filled no better than that answer
        handler.closePosition(0, 0);
        assertEq(handler.failingCloses(), 1);
        assertEq(handler.giftedCloses(), 0);
        handler.guardianPause(0, 5, 1 hours);
        handler.governancePause(4, 1, 1 hours); // scope 1 (governance acts on one call in four)
        handler.changeParam(0, 50, 1 hours, 0);
        assertEq(handler.guardianPauses() + handler.governancePauses() + handler.paramChanges(), 3);
        assertEq(handler.unsafeWithdrawals(), 0);
    }

    /// @notice The vault holds at least what every account is worth at the guard's prices (summed one
    ///         account at a time, not through the engine's aggregate the Router checks) plus the insurance
    ///         fund and fees; an account in bad debt counts negative, never as an asset of the vault.
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 128
    function invariant_vaultCoversEveryAccount() public view {
        if (engine.settled()) return;
        int256 owed = int256(engine.insuranceFund() + engine.feesAccrued());
        uint256 n = engine.accountCount();
        for (uint256 i; i < n; ++i) {
            (int256 equity,,) = engine.health(engine.accounts(i));
            owed += equity;
        }
        // Each equity is rounded down by at most one unit per market.
        assertGe(int256(vault.freeBalance()) + int256(2 * n), owed);
    }

    /// @notice No withdrawal, even while a market fails its feed checks, left an account in deficit at a
    ///         price a feed showed (audit F5); a market's LIQUIDATE pause held (F6).
    /// forge-config: default.invariant.runs = 256
    /// forge-config: default.invariant.depth = 128
    function invariant_noPayoutAgainstAShownPrice() public view {
        assertEq(handler.unsafeWithdrawals(), 0, "a withdrawal left a deficit at a price a feed showed");
        assertEq(handler.liquidatedWhilePaused(), 0, "liquidated while LIQUIDATE was paused in the market");
        assertEq(handler.giftedCloses(), 0, "a close in a failing market was filled better than a feed showed");
    }

    /// @notice Balance == Σ equity + insurance + fees, up to rounding that only ever favours the protocol
    ///         (at most 3 base units per call).
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 128
    function invariant_booksBalanceWithinRounding() public view {
        if (engine.settled()) return;
        int256 surplus = int256(vault.freeBalance()) - engine.obligations();
        assertGe(surplus, 0);
        assertLe(surplus, int256(3 * (handler.calls() + 1)));
    }

    /// @notice Exits work whenever the guards say they should; liquidations work while pauses are active.
    /// forge-config: default.invariant.runs = 96
    /// forge-config: default.invariant.depth = 128
    function invariant_exitsAndLiquidationsWork() public view {
        assertEq(handler.failedExits(), 0, "a close failed while exits were allowed");
        assertEq(handler.failedLiquidations(), 0, "a due liquidation failed");
    }

    /// @notice Governance's incident-profit void moves exactly min(cap, record, collateral) of a record
    ///         that took profit in the window (the model's record), nothing otherwise, to the insurance fund.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_profitVoidsMatchTheModel() public view {
        assertEq(handler.voidMismatches(), 0, "a profit void differed from the model");
    }

    /// @dev The handler reaches a void that moves profit (held by an all-market withdrawal pause).
    function test_handlerReachesProfitVoids() public {
        handler.deposit(0, 20_000 * USD);
        handler.trade(0, 0, 20e18);
        handler.movePrice(0, 500, true); // +5%
        handler.guardianPause(0, 2, 24 hours); // WITHDRAW in every market
        handler.passTime(2 hours);
        handler.closePosition(0, 0);
        handler.voidIncidentProfit(0, 1 hours, 0);
        assertEq(handler.profitVoids(), 1);
        assertEq(handler.voidMismatches(), 0);
    }

    /// @notice After settlement every account withdraws exactly its share, and no more than the pool.
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 128
    function invariant_settlementPaysShares() public view {
        assertEq(handler.settlementMispaid(), 0);
        assertEq(handler.settlementOverpaid(), 0);
    }
}
