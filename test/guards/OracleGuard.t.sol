// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {OracleGuard} from "../../contracts/guards/OracleGuard.sol";
import {MockAggregator} from "../../contracts/world/MockAggregator.sol";
import {RevertingFeed, ShortFeed} from "../mocks/BadFeeds.sol";

contract OracleGuardTest is Test {
    OracleGuard internal og;
    MockAggregator internal ethA; // primary, 8 decimals
    MockAggregator internal ethB; // secondary, 18 decimals
    MockAggregator internal btc; // single feed, 8 decimals
    address internal gov = makeAddr("governance");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");

    bytes32 internal constant ETH = "ETH-PERP";
    bytes32 internal constant BTC = "BTC-PERP";
    uint256 internal constant COOLDOWN = 15 minutes;

    function setUp() public {
        vm.warp(1_700_000_000);
        og = new OracleGuard(gov, guardian);
        ethA = new MockAggregator(8, "ETH / USD", address(this));
        ethB = new MockAggregator(18, "ETH / USD (B)", address(this));
        btc = new MockAggregator(8, "BTC / USD", address(this));
        ethA.setAnswer(2000e8);
        ethB.setAnswer(2000e18);
        btc.setAnswer(60_000e8);
        vm.startPrank(gov);
        og.setMarket(ETH, _cfg(address(ethA), address(ethB)));
        og.setMarket(BTC, _cfg(address(btc), address(0)));
        vm.stopPrank();
    }

    function _cfg(address primary, address secondary) internal pure returns (OracleGuard.FeedConfig memory c) {
        c.primary = primary;
        c.primaryHeartbeat = 1 hours;
        c.secondary = secondary;
        c.secondaryHeartbeat = secondary == address(0) ? 0 : 2 hours;
        c.maxDeviationBps = secondary == address(0) ? 0 : 100;
        c.maxJumpBps = 1000;
        c.jumpInterval = 1 hours;
        c.jumpCooldown = uint32(COOLDOWN);
    }

    function _set(uint256 usd8) internal {
        ethA.setAnswer(int256(usd8));
        ethB.setAnswer(int256(usd8 * 1e10));
    }

    function _check(bytes32 m) internal returns (uint256 p, bool ro) {
        return og.checkedPrice(m);
    }

    function _status(bytes32 m) internal view returns (OracleGuard.Status) {
        (OracleGuard.State memory s,,) = og.marketState(m);
        return s.status;
    }

    // ------------------------------------------------------------ configuration

    function test_setMarketSeedsLastGoodPrice() public view {
        (uint256 p, uint256 at, bool ro) = og.lastGoodPrice(ETH);
        assertEq(p, 2000e18);
        assertEq(at, block.timestamp);
        assertFalse(ro);
        OracleGuard.Config memory c = og.configOf(ETH);
        assertEq(c.primaryDecimals, 8);
        assertEq(c.secondaryDecimals, 18);
    }

    function test_setMarketOnlyGovernance() public {
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        og.setMarket("X", _cfg(address(ethA), address(0)));
    }

    function test_setMarketValidates() public {
        OracleGuard.FeedConfig memory c = _cfg(address(ethA), address(ethB));
        vm.startPrank(gov);
        c.primaryHeartbeat = 0;
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "primaryHeartbeat"));
        og.setMarket("X", c);
        c = _cfg(address(ethA), address(ethB));
        c.maxDeviationBps = 0;
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "maxDeviationBps"));
        og.setMarket("X", c);
        c = _cfg(address(ethA), address(ethA));
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "secondary"));
        og.setMarket("X", c);
        c = _cfg(address(ethA), address(0));
        c.maxJumpBps = 0;
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "maxJumpBps"));
        og.setMarket("X", c);
        c = _cfg(address(0), address(0));
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "primary"));
        og.setMarket("X", c);
        c = _cfg(address(ethA), address(0));
        c.jumpCooldown = 2 days;
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, bytes32("X"), "jumpCooldown"));
        og.setMarket("X", c);
        vm.stopPrank();
    }

    function test_setMarketRejectsUnusableFeed() public {
        vm.warp(block.timestamp + 2 hours);
        vm.prank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(OracleGuard.FeedUnusable.selector, bytes32("X"), OracleGuard.Status.Stale)
        );
        og.setMarket("X", _cfg(address(ethA), address(0)));
    }

    function test_unknownMarketReverts() public {
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.UnknownMarket.selector, bytes32("nope")));
        og.checkedPrice("nope");
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.UnknownMarket.selector, bytes32("nope")));
        og.viewPrice("nope");
    }

    // ------------------------------------------------------------ normal operation

    function test_freshAgreeingFeedsPass() public {
        vm.warp(block.timestamp + 10 minutes);
        _set(2050e8);
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2050e18);
        assertFalse(ro);
        (uint256 lp, uint256 at,) = og.lastGoodPrice(ETH);
        assertEq(lp, 2050e18);
        assertEq(at, block.timestamp);
    }

    function test_decimalsAbove18AreNormalized() public {
        MockAggregator f = new MockAggregator(20, "X", address(this));
        f.setAnswer(3e20);
        vm.prank(gov);
        og.setMarket("X", _cfg(address(f), address(0)));
        (uint256 p,) = og.checkedPrice("X");
        assertEq(p, 3e18);
    }

    function test_noStorageWriteWhenNothingChanged() public {
        _check(ETH);
        vm.record();
        _check(ETH);
        (, bytes32[] memory writes) = vm.accesses(address(og));
        assertEq(writes.length, 0);
    }

    // ------------------------------------------------------------ staleness (per-feed heartbeat)

    function test_stalePrimaryGoesReduceOnlyAndRecovers() public {
        vm.warp(block.timestamp + 1 hours + 1); // primary heartbeat 1h, secondary 2h
        vm.expectEmit(true, false, false, true, address(og));
        emit OracleGuard.StatusChanged(ETH, OracleGuard.Status.Ok, OracleGuard.Status.Stale, 2000e18, 0);
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2000e18);
        assertTrue(ro);
        _set(2010e8);
        (p, ro) = _check(ETH);
        assertEq(p, 2010e18);
        assertFalse(ro);
        assertEq(uint8(_status(ETH)), uint8(OracleGuard.Status.Ok));
    }

    function test_primaryExactlyAtHeartbeatIsFresh() public {
        vm.warp(block.timestamp + 1 hours);
        (, bool ro) = _check(ETH);
        assertFalse(ro);
    }

    function test_staleSecondaryGoesReduceOnly() public {
        vm.warp(block.timestamp + 1 hours);
        ethA.setAnswer(2000e8); // primary fresh
        vm.warp(block.timestamp + 1 hours + 1); // secondary now 2h+1 old, primary 1h+1: refresh primary
        ethA.setAnswer(2000e8);
        (uint256 p, bool ro) = _check(ETH);
        assertTrue(ro);
        assertEq(p, 2000e18);
        assertEq(uint8(_status(ETH)), uint8(OracleGuard.Status.Stale));
    }

    function test_heartbeatIsPerFeed() public {
        // BTC's single feed has a 1h heartbeat too, but a market with a 3h heartbeat tolerates 2h.
        MockAggregator f = new MockAggregator(8, "X", address(this));
        f.setAnswer(1e8);
        OracleGuard.FeedConfig memory c = _cfg(address(f), address(0));
        c.primaryHeartbeat = 3 hours;
        vm.prank(gov);
        og.setMarket("X", c);
        vm.warp(block.timestamp + 2 hours);
        (, bool roX) = og.checkedPrice("X");
        (, bool roBtc) = og.checkedPrice(BTC);
        assertFalse(roX);
        assertTrue(roBtc);
    }

    // ------------------------------------------------------------ invalid answers

    function test_zeroOrNegativeAnswerIsInvalid() public {
        btc.setAnswer(0);
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
        assertEq(uint8(_status(BTC)), uint8(OracleGuard.Status.Invalid));
        btc.setAnswer(-1);
        (p, ro) = _check(BTC);
        assertTrue(ro);
    }

    function test_futureTimestampIsInvalid() public {
        btc.setAnswerAt(60_000e8, block.timestamp + 1);
        (, bool ro) = _check(BTC);
        assertTrue(ro);
        assertEq(uint8(_status(BTC)), uint8(OracleGuard.Status.Invalid));
    }

    function test_overflowingAnswerIsInvalid() public {
        btc.setAnswer(type(int256).max);
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
    }

    function test_revertingFeedDoesNotRevertGuard() public {
        RevertingFeed f = new RevertingFeed();
        vm.prank(gov);
        og.setMarket("X", _cfg(address(f), address(0)));
        f.setBroken(true);
        (uint256 p, bool ro) = og.checkedPrice("X");
        assertEq(p, 2000e18);
        assertTrue(ro);
        f.setBroken(false);
        (p, ro) = og.checkedPrice("X");
        assertFalse(ro);
    }

    function test_shortReturnDataIsInvalid() public {
        RevertingFeed good = new RevertingFeed();
        ShortFeed bad = new ShortFeed();
        vm.prank(gov);
        og.setMarket("X", _cfg(address(good), address(0)));
        OracleGuard.FeedConfig memory c = _cfg(address(bad), address(0));
        vm.prank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(OracleGuard.FeedUnusable.selector, bytes32("X"), OracleGuard.Status.Invalid)
        );
        og.setMarket("X", c);
    }

    // ------------------------------------------------------------ deviation

    function test_deviationGoesReduceOnlyAndRecovers() public {
        ethA.setAnswer(2000e8);
        ethB.setAnswer(2021e18); // 1.05% away
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2000e18);
        assertTrue(ro);
        assertEq(uint8(_status(ETH)), uint8(OracleGuard.Status.Deviation));
        ethB.setAnswer(2019e18); // 0.95%: agree again
        (p, ro) = _check(ETH);
        assertFalse(ro);
        assertEq(p, 2000e18);
    }

    function test_deviationKeepsLastGoodEvenIfPrimaryMoved() public {
        vm.warp(block.timestamp + 5 minutes);
        ethA.setAnswer(2100e8);
        ethB.setAnswer(1900e18);
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2000e18);
        assertTrue(ro);
    }

    // ------------------------------------------------------------ jump limit

    function test_smallMovesWithinIntervalCannotCompound() public {
        vm.warp(block.timestamp + 1 minutes);
        _set(2120e8); // +6% from the anchor: fine
        (uint256 p, bool ro) = _check(BTC); // keep BTC fresh is irrelevant here
        (p, ro) = _check(ETH);
        assertEq(p, 2120e18);
        assertFalse(ro);
        vm.warp(block.timestamp + 1 minutes);
        _set(2247e8); // +12.35% from the anchor (2000), +6% from the last: a jump
        (p, ro) = _check(ETH);
        assertEq(p, 2247e18); // corroborated by the secondary: accepted, with a cooldown
        assertTrue(ro);
    }

    function test_movesAcrossIntervalsReanchor() public {
        btc.setAnswer(63_000e8); // +5%
        (uint256 p, bool ro) = _check(BTC);
        assertFalse(ro);
        vm.warp(block.timestamp + 1 hours);
        btc.setAnswer(69_000e8); // +9.5% from 63k (new anchor), +15% from 60k
        (p, ro) = _check(BTC);
        assertEq(p, 69_000e18);
        assertFalse(ro);
    }

    function test_corroboratedCrashIsAcceptedAtOnceWithCooldown() public {
        uint256 t0 = block.timestamp;
        vm.warp(t0 + 5 minutes);
        _set(1400e8); // -30%, both feeds agree
        vm.expectEmit(true, false, false, true, address(og));
        emit OracleGuard.JumpAccepted(ETH, 2000e18, 1400e18, true, t0 + 5 minutes + COOLDOWN);
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 1400e18); // liquidations use the real price immediately
        assertTrue(ro); // no new risk during the cooldown
        vm.warp(t0 + 5 minutes + COOLDOWN - 1);
        (, ro) = _check(ETH);
        assertTrue(ro);
        vm.warp(t0 + 5 minutes + COOLDOWN);
        _set(1390e8);
        (p, ro) = _check(ETH);
        assertEq(p, 1390e18);
        assertFalse(ro); // recovered by itself, no governance vote
    }

    function test_singleFeedJumpWaitsForConfirmingRound() public {
        uint256 t0 = block.timestamp;
        vm.warp(t0 + 1 minutes);
        btc.setAnswer(42_000e8); // -30%
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
        assertEq(uint8(_status(BTC)), uint8(OracleGuard.Status.JumpPending));
        // Same round after the wait: not a confirmation.
        vm.warp(t0 + 1 minutes + COOLDOWN);
        (p, ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
        // A later round confirms within maxJumpBps of the candidate: accepted.
        btc.setAnswer(41_000e8);
        (p, ro) = _check(BTC);
        assertEq(p, 41_000e18);
        assertFalse(ro);
        (,, OracleGuard.Candidate memory c) = og.marketState(BTC);
        assertEq(c.since, 0);
    }

    function test_singleFeedConfirmationNeedsTheWait() public {
        uint256 t0 = block.timestamp;
        btc.setAnswer(42_000e8);
        _check(BTC);
        vm.warp(t0 + COOLDOWN - 1);
        btc.setAnswer(42_100e8); // a later round, but too early
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
    }

    function test_singleFeedWhipsawRestartsTheWait() public {
        uint256 t0 = block.timestamp;
        btc.setAnswer(42_000e8);
        _check(BTC);
        vm.warp(t0 + COOLDOWN);
        btc.setAnswer(30_000e8); // far from the candidate: restart
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_000e18);
        assertTrue(ro);
        (,, OracleGuard.Candidate memory c) = og.marketState(BTC);
        assertEq(c.price, 30_000e18);
        assertEq(c.since, t0 + COOLDOWN);
        vm.warp(t0 + 2 * COOLDOWN);
        btc.setAnswer(30_500e8);
        (p, ro) = _check(BTC);
        assertEq(p, 30_500e18);
        assertFalse(ro);
    }

    function test_glitchThatRevertsClearsCandidate() public {
        btc.setAnswer(6_000e8); // a decimals-style glitch
        _check(BTC);
        btc.setAnswer(60_100e8); // back to normal
        (uint256 p, bool ro) = _check(BTC);
        assertEq(p, 60_100e18);
        assertFalse(ro);
        (,, OracleGuard.Candidate memory c) = og.marketState(BTC);
        assertEq(c.since, 0);
    }

    function test_recoveryAfterLongOutageWithBigMove() public {
        vm.warp(block.timestamp + 6 hours);
        (, bool ro) = _check(ETH);
        assertTrue(ro); // stale
        _set(1500e8); // feeds back, 25% lower, both agree
        (uint256 p, bool ro2) = _check(ETH);
        assertEq(p, 1500e18);
        assertTrue(ro2); // cooldown only
        vm.warp(block.timestamp + COOLDOWN);
        _set(1500e8);
        (, ro2) = _check(ETH);
        assertFalse(ro2);
    }

    function test_primaryOnlyJumpIsDeviationNotAccepted() public {
        ethA.setAnswer(1400e8); // the secondary still says 2000
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2000e18);
        assertTrue(ro);
        assertEq(uint8(_status(ETH)), uint8(OracleGuard.Status.Deviation));
    }

    // ------------------------------------------------------------ view variant

    function test_viewPriceDoesNotWrite() public {
        btc.setAnswer(42_000e8);
        vm.record();
        (uint256 p, bool ro) = og.viewPrice(BTC);
        (, bytes32[] memory writes) = vm.accesses(address(og));
        assertEq(writes.length, 0);
        assertEq(p, 60_000e18);
        assertTrue(ro);
    }

    function testFuzz_viewMatchesChecked(uint256 price, uint256 dt, bool moveSecondary) public {
        price = bound(price, 1e8, 10_000e8);
        dt = bound(dt, 0, 3 hours);
        vm.warp(block.timestamp + dt);
        ethA.setAnswer(int256(price));
        if (moveSecondary) ethB.setAnswer(int256(price * 1e10));
        (uint256 vp, bool vro) = og.viewPrice(ETH);
        (uint256 cp, bool cro) = og.checkedPrice(ETH);
        assertEq(vp, cp);
        assertEq(vro, cro);
        // On failure the last good price is served; on success the primary's.
        if (!cro) assertEq(cp, price * 1e10);
    }

    // ------------------------------------------------------------ forced reduce-only

    function test_guardianForcesForBoundedTime() public {
        uint256 t0 = block.timestamp;
        vm.expectEmit(true, true, false, true, address(og));
        emit OracleGuard.ReduceOnlyForced(ETH, t0 + 1 days, guardian);
        vm.prank(guardian);
        og.forceReduceOnly(ETH, 1 days);
        (uint256 p, bool ro) = _check(ETH);
        assertEq(p, 2000e18); // the price still flows
        assertTrue(ro);
        vm.warp(t0 + 1 days);
        _set(2000e8);
        (, ro) = _check(ETH);
        assertFalse(ro);
    }

    function test_guardianSingleForceCapped() public {
        vm.prank(guardian);
        vm.expectRevert(
            abi.encodeWithSelector(
                OracleGuard.ForceTooLong.selector, ETH, block.timestamp + 1 days + 1, block.timestamp + 1 days
            )
        );
        og.forceReduceOnly(ETH, 1 days + 1);
    }

    function test_guardianEpisodeCapped() public {
        uint256 t0 = block.timestamp;
        vm.startPrank(guardian);
        og.forceReduceOnly(ETH, 1 days);
        vm.warp(t0 + 20 hours);
        og.forceReduceOnly(ETH, 1 days); // extend to t0 + 44h
        vm.warp(t0 + 40 hours);
        og.forceReduceOnly(ETH, 1 days); // to t0 + 64h
        vm.warp(t0 + 60 hours);
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.ForceTooLong.selector, ETH, t0 + 84 hours, t0 + 72 hours));
        og.forceReduceOnly(ETH, 1 days);
        og.forceReduceOnly(ETH, 12 hours); // exactly to the 3-day cap
        vm.stopPrank();
        (OracleGuard.State memory s,,) = og.marketState(ETH);
        assertEq(s.forcedUntil, t0 + 72 hours);
    }

    function test_guardianReforceGap() public {
        uint256 t0 = block.timestamp;
        vm.startPrank(guardian);
        og.forceReduceOnly(ETH, 1 hours);
        vm.warp(t0 + 1 hours + 1 days - 1);
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.ReforceTooSoon.selector, ETH, t0 + 1 hours + 1 days));
        og.forceReduceOnly(ETH, 1 hours);
        vm.warp(t0 + 1 hours + 1 days);
        og.forceReduceOnly(ETH, 1 hours);
        vm.stopPrank();
    }

    function test_forceNeverShortens() public {
        vm.prank(gov);
        og.forceReduceOnly(ETH, 10 days);
        vm.prank(guardian);
        og.forceReduceOnly(ETH, 1 hours); // no-op
        (OracleGuard.State memory s,,) = og.marketState(ETH);
        assertEq(s.forcedUntil, block.timestamp + 10 days);
    }

    function test_governanceForceBoundedAndLiftable() public {
        vm.startPrank(gov);
        vm.expectRevert(
            abi.encodeWithSelector(
                OracleGuard.ForceTooLong.selector, ETH, block.timestamp + 31 days, block.timestamp + 30 days
            )
        );
        og.forceReduceOnly(ETH, 31 days);
        og.forceReduceOnly(ETH, 30 days);
        og.liftReduceOnly(ETH);
        vm.stopPrank();
        (, bool ro) = _check(ETH);
        assertFalse(ro);
    }

    function test_onlyGovernanceLifts() public {
        vm.prank(guardian);
        og.forceReduceOnly(ETH, 1 hours);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        og.liftReduceOnly(ETH);
    }

    function test_strangerCannotForce() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGuardian.selector, stranger));
        og.forceReduceOnly(ETH, 1 hours);
    }

    // ------------------------------------------------------------ gas (hot path)

    function test_gas_checkedPrice_twoFeeds_noChange() public {
        og.checkedPrice(ETH);
        og.checkedPrice(ETH);
        vm.snapshotGasLastCall("OracleGuard", "checkedPrice_twoFeeds_noChange");
    }

    function test_gas_checkedPrice_twoFeeds_newRound() public {
        vm.warp(block.timestamp + 1 minutes);
        _set(2001e8);
        og.checkedPrice(ETH);
        vm.snapshotGasLastCall("OracleGuard", "checkedPrice_twoFeeds_newRound");
    }

    function test_gas_checkedPrice_oneFeed_newRound() public {
        vm.warp(block.timestamp + 1 minutes);
        btc.setAnswer(60_100e8);
        og.checkedPrice(BTC);
        vm.snapshotGasLastCall("OracleGuard", "checkedPrice_oneFeed_newRound");
    }

    function test_gas_viewPrice_twoFeeds() public {
        og.viewPrice(ETH);
        vm.snapshotGasLastCall("OracleGuard", "viewPrice_twoFeeds");
    }

    function test_gas_lastGoodPrice() public {
        og.lastGoodPrice(ETH);
        vm.snapshotGasLastCall("OracleGuard", "lastGoodPrice");
    }
}
