// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {OracleGuard} from "../../../contracts/guards/OracleGuard.sol";
import {MockAggregator} from "../../../contracts/world/MockAggregator.sol";

/// Random feed moves (crashes, glitches, disagreements), outages and checks on a two-feed and a
/// single-feed market. Counts: a price served without reduce-only that is not the primary's fresh
/// answer; a zero price; and a market still reduce-only after the feeds have calmed down (stuck).
contract OracleHandler is Test {
    OracleGuard public og;
    MockAggregator public a; // ETH primary, 8 decimals
    MockAggregator public b; // ETH secondary, 18 decimals
    MockAggregator public c; // BTC single feed, 8 decimals
    bytes32 internal constant ETH = "ETH-PERP";
    bytes32 internal constant BTC = "BTC-PERP";
    uint256 internal constant COOLDOWN = 15 minutes;

    uint256 public now_;
    uint256 public badPrices;
    uint256 public zeroPrices;
    uint256 public stuck;
    uint256 public calms;

    constructor(OracleGuard og_, MockAggregator a_, MockAggregator b_, MockAggregator c_) {
        og = og_;
        a = a_;
        b = b_;
        c = c_;
        now_ = block.timestamp;
    }

    modifier clock() {
        vm.warp(now_);
        _;
    }

    function _answer(MockAggregator f) internal view returns (int256 ans, uint256 at) {
        (, ans,, at,) = f.latestRoundData();
    }

    /// Move one or both feeds by -60%..+60% (or a 10x glitch).
    function move(uint256 seed, uint8 which) external clock {
        MockAggregator f = which % 3 == 0 ? a : which % 3 == 1 ? b : c;
        (int256 ans,) = _answer(f);
        int256 pct = int256(bound(seed, 0, 120)) - 60;
        int256 next = seed % 17 == 0 ? ans / 10 : ans + (ans * pct) / 100;
        if (next <= 0) next = 1e8;
        if (next > 1e15 * (f == b ? int256(1e10) : int256(1))) next = ans;
        f.setAnswer(next);
        if (which % 5 == 0 && f == a) b.setAnswer(next * 1e10); // move both together (a real move)
    }

    function warp(uint256 dt) external {
        now_ += bound(dt, 0, 3 hours);
    }

    function check(bool eth) external clock {
        bytes32 m = eth ? ETH : BTC;
        (uint256 p, bool ro) = og.checkedPrice(m);
        if (p == 0) zeroPrices++;
        if (!ro) {
            (int256 ans, uint256 at) = _answer(eth ? a : c);
            if (p != uint256(ans) * 1e10 || now_ - at > 1 hours) badPrices++;
        }
    }

    /// Feeds come back fresh and in agreement at the primary's level, twice, COOLDOWN apart:
    /// the market must be out of reduce-only, with no governance action.
    function calm(bool eth) external clock {
        bytes32 m = eth ? ETH : BTC;
        MockAggregator p = eth ? a : c;
        (int256 ans,) = _answer(p);
        p.setAnswer(ans);
        if (eth) b.setAnswer(ans * 1e10);
        og.checkedPrice(m);
        now_ += COOLDOWN;
        vm.warp(now_);
        p.setAnswer(ans);
        if (eth) b.setAnswer(ans * 1e10);
        (uint256 price, bool ro) = og.checkedPrice(m);
        calms++;
        if (ro || price != uint256(ans) * 1e10) stuck++;
    }
}

contract OracleInvariantTest is StdInvariant, Test {
    OracleHandler internal handler;
    OracleGuard internal og;

    function setUp() public {
        vm.warp(1_700_000_000);
        address gov = makeAddr("governance");
        og = new OracleGuard(gov, address(0));
        MockAggregator a = new MockAggregator(8, "ETH", address(0));
        MockAggregator b = new MockAggregator(18, "ETH-B", address(0));
        MockAggregator c = new MockAggregator(8, "BTC", address(0));
        handler = new OracleHandler(og, a, b, c);
        vm.startPrank(address(0));
        a.setFeeder(address(handler));
        b.setFeeder(address(handler));
        c.setFeeder(address(handler));
        vm.stopPrank();
        vm.startPrank(address(handler));
        a.setAnswer(2000e8);
        b.setAnswer(2000e18);
        c.setAnswer(60_000e8);
        vm.stopPrank();
        OracleGuard.FeedConfig memory cfg;
        cfg.primary = address(a);
        cfg.primaryHeartbeat = 1 hours;
        cfg.secondary = address(b);
        cfg.secondaryHeartbeat = 1 hours;
        cfg.maxDeviationBps = 100;
        cfg.maxJumpBps = 1000;
        cfg.jumpInterval = 1 hours;
        cfg.jumpCooldown = 15 minutes;
        vm.startPrank(gov);
        og.setMarket("ETH-PERP", cfg);
        cfg.primary = address(c);
        cfg.secondary = address(0);
        cfg.secondaryHeartbeat = 0;
        cfg.maxDeviationBps = 0;
        og.setMarket("BTC-PERP", cfg);
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_onlyFreshPrimaryPricesServedAsNormal() public view {
        assertEq(handler.badPrices(), 0, "a non-reduce-only price was not the fresh primary answer");
        assertEq(handler.zeroPrices(), 0, "served a zero price");
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_neverStuckAfterFeedsCalm() public view {
        assertEq(handler.stuck(), 0, "still reduce-only after the feeds calmed down");
    }
}
