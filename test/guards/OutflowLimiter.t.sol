// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {LimiterHarness} from "./harness/LimiterHarness.sol";

contract OutflowLimiterTest is Test {
    LimiterHarness internal lim;
    address internal gov = makeAddr("gov");
    address internal guardian = makeAddr("guardian");
    address internal stranger = makeAddr("stranger");
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal constant A = address(0xA11CE);
    address internal constant B = address(0xB0B);
    uint256 internal constant E = 1e18;
    uint256 internal constant W = 6 hours;

    function setUp() public {
        vm.warp(1_750_000_000);
        lim = new LimiterHarness(gov, guardian);
    }

    function _cfg(OutflowLimiter.Mode mode, uint8 shift) internal pure returns (OutflowLimiter.AssetConfig memory) {
        return OutflowLimiter.AssetConfig({
            limitBps: 1_000, window: uint32(W), floor: 1e18, cooldown: 6 hours, mode: mode, creditShift: shift
        });
    }

    /// @dev 1,000 tokens tracked, 10% per 6 h: L = 100 tokens, bucket full.
    function _reg(OutflowLimiter.Mode mode, uint8 shift) internal {
        lim.register(A, _cfg(mode, shift), 1_000 * E);
    }

    /// @dev Settling pending inflows rounds down: the liquidity before them is known to 24 significant
    ///      bits (credit and L may be low by 2^-24 of the liquidity), and re-expressing loses L / 2^30.
    function _assertNear(uint256 got, uint256 want, string memory why) internal view {
        assertLe(got, want, why);
        assertApproxEqAbs(got, want, (lim.trackedLiquidity(A) >> 22) + 2, why);
    }

    function _rateLimited(uint256 amount, uint256 h) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(OutflowLimiter.RateLimited.selector, A, amount, h);
    }

    // ------------------------------------------------------------------ registration and parameters

    function test_register_startsWithFullBucket() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        assertEq(lim.headroom(A), 100 * E);
        assertEq(lim.currentLimit(A), 100 * E);
        assertEq(lim.trackedLiquidity(A), 1_000 * E);
        OutflowLimiter.AssetConfig memory c = lim.assetConfig(A);
        assertEq(c.limitBps, 1_000);
        assertEq(c.window, W);
        assertEq(c.floor, 1e18);
        assertEq(c.cooldown, 6 hours);
        assertEq(uint8(c.mode), uint8(OutflowLimiter.Mode.REVERT));
    }

    function test_register_emitsEvent() public {
        vm.expectEmit(address(lim));
        emit OutflowLimiter.AssetRegistered(A, 1_000, W, 1e18, 6 hours, OutflowLimiter.Mode.DELAYED, 1, 5 * E);
        lim.register(A, _cfg(OutflowLimiter.Mode.DELAYED, 1), 5 * E);
    }

    function test_floorAppliesToSmallLiquidity() public {
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.floor = 50 * E;
        lim.register(A, c, 100 * E); // 10% would be 10
        assertEq(lim.currentLimit(A), 50 * E);
        assertEq(lim.headroom(A), 50 * E);
    }

    function test_registerAsset_onlyGovernance_usesInitialLiquidity() public {
        lim.setInitialLiquidity(500 * E);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, stranger));
        lim.registerAsset(A, _cfg(OutflowLimiter.Mode.REVERT, 0));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        lim.registerAsset(A, _cfg(OutflowLimiter.Mode.REVERT, 0));
        vm.prank(gov);
        lim.registerAsset(A, _cfg(OutflowLimiter.Mode.REVERT, 0));
        assertEq(lim.trackedLiquidity(A), 500 * E);
        assertEq(lim.headroom(A), 50 * E);
    }

    function test_register_twiceReverts() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.AssetAlreadyRegistered.selector, A));
        lim.register(A, _cfg(OutflowLimiter.Mode.REVERT, 0), 0);
    }

    function _expectParamRevert(OutflowLimiter.AssetConfig memory c, bytes32 which, uint256 value) internal {
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.InvalidLimiterParam.selector, which, value));
        lim.register(A, c, 0);
    }

    function test_register_boundsEnforced() public {
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.limitBps = 0;
        _expectParamRevert(c, "limitBps", 0);
        c.limitBps = 10_001;
        _expectParamRevert(c, "limitBps", 10_001);
        c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.window = 5 minutes - 1;
        _expectParamRevert(c, "window", 5 minutes - 1);
        c.window = 30 days + 1;
        _expectParamRevert(c, "window", 30 days + 1);
        c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.cooldown = 5 minutes - 1;
        _expectParamRevert(c, "cooldown", 5 minutes - 1);
        c.cooldown = 7 days + 1;
        _expectParamRevert(c, "cooldown", 7 days + 1);
        c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.floor = 0;
        _expectParamRevert(c, "floor", 0);
        c.floor = 1 << 96;
        _expectParamRevert(c, "floor", 1 << 96);
        c = _cfg(OutflowLimiter.Mode.REVERT, 4);
        _expectParamRevert(c, "creditShift", 4);
        // The extremes are accepted.
        c = _cfg(OutflowLimiter.Mode.REVERT, 3);
        c.limitBps = 10_000;
        c.window = 30 days;
        c.cooldown = 7 days;
        c.floor = (1 << 96) - 1;
        lim.register(A, c, 0);
        c.limitBps = 1;
        c.window = 5 minutes;
        c.cooldown = 5 minutes;
        c.floor = 1;
        lim.register(B, c, 0);
    }

    function test_unregisteredAsset_reverts() public {
        bytes memory err = abi.encodeWithSelector(OutflowLimiter.AssetNotRegistered.selector, A);
        vm.expectRevert(err);
        lim.inflow(A, 1);
        vm.expectRevert(err);
        lim.outflow(A, alice, 0);
        vm.expectRevert(err);
        lim.headroom(A);
        vm.expectRevert(err);
        lim.currentLimit(A);
    }

    function test_updateAssetParams_onlyGovernance_bounded_emits() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.DELAYED, 2);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        lim.updateAssetParams(A, c);
        c.limitBps = 0;
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.InvalidLimiterParam.selector, bytes32("limitBps"), 0));
        lim.updateAssetParams(A, c);
        c.limitBps = 2_000;
        vm.expectEmit(address(lim));
        emit OutflowLimiter.AssetParamsUpdated(A, 2_000, W, 1e18, 6 hours, OutflowLimiter.Mode.DELAYED, 2);
        vm.prank(gov);
        lim.updateAssetParams(A, c);
        assertEq(lim.assetConfig(A).limitBps, 2_000);
        assertEq(uint8(lim.assetConfig(A).mode), uint8(OutflowLimiter.Mode.DELAYED));
    }

    function test_updateAssetParams_tighteningBitesLooseningPhasesIn() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.limitBps = 500;
        vm.prank(gov);
        lim.updateAssetParams(A, c);
        assertEq(lim.headroom(A), 50 * E, "tightening caps the headroom at once");
        c.limitBps = 2_000;
        vm.prank(gov);
        lim.updateAssetParams(A, c);
        assertEq(lim.headroom(A), 50 * E, "loosening does not jump");
        skip(W / 2);
        assertApproxEqAbs(lim.headroom(A), 150 * E, 1e10, "refills toward the new limit");
        skip(W);
        assertEq(lim.headroom(A), 200 * E);
    }

    // ------------------------------------------------------------------ outflows and refill

    function test_outflow_withinHeadroom_paysNow() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        assertTrue(lim.outflow(A, alice, 60 * E));
        assertEq(lim.trackedLiquidity(A), 940 * E);
        uint256 h = lim.headroom(A);
        assertLe(h, 40 * E);
        assertApproxEqAbs(h, 40 * E, 94 * E / (1 << 30) + 1);
    }

    function test_outflow_revertMode_aboveHeadroom() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        vm.expectRevert(_rateLimited(100 * E + 1, 100 * E));
        lim.outflow(A, alice, 100 * E + 1);
        assertTrue(lim.outflow(A, alice, 100 * E));
        vm.expectRevert(_rateLimited(1, 0));
        lim.outflow(A, alice, 1);
        assertFalse(lim.isRateLimitTriggered(A), "REVERT mode records no trip");
    }

    function test_refill_isLinearAndCapped() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        lim.outflow(A, alice, 100 * E); // liquidity 900, L = 90, empty bucket
        assertEq(lim.headroom(A), 0);
        skip(W / 2);
        assertEq(lim.headroom(A), 45 * E);
        skip(W / 2);
        assertEq(lim.headroom(A), 90 * E);
        skip(30 days);
        assertEq(lim.headroom(A), 90 * E, "never above L without inflow credit");
    }

    function test_outflowAboveLiquidity_reverts() public {
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.floor = 100 * E;
        lim.register(A, c, 50 * E);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.LiquidityUnderflow.selector, A, 60 * E, 50 * E));
        lim.outflow(A, alice, 60 * E);
        assertTrue(lim.outflow(A, alice, 50 * E));
        assertEq(lim.trackedLiquidity(A), 0);
    }

    function test_inflowOverflow_reverts() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        uint256 room = lim.MAX_AMOUNT() - 1_000 * E;
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.LiquidityOverflow.selector, A, room + 1, 1_000 * E));
        lim.inflow(A, room + 1);
        vm.expectRevert(
            abi.encodeWithSelector(OutflowLimiter.LiquidityOverflow.selector, A, type(uint256).max, 1_000 * E)
        );
        lim.inflow(A, type(uint256).max);
        lim.inflow(A, room);
        assertEq(lim.trackedLiquidity(A), lim.MAX_AMOUNT());
    }

    // ------------------------------------------------------------------ inflow credit

    function test_credit_boundedAtLimit() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        lim.inflow(A, 50 * E);
        _assertNear(lim.headroom(A), 150 * E, "credit");
        lim.inflow(A, 100 * E);
        _assertNear(lim.headroom(A), 200 * E, "capped at L + credit, L from the liquidity before the inflows");
        assertTrue(lim.outflow(A, alice, lim.headroom(A)));
        vm.expectRevert(_rateLimited(1, 0));
        lim.outflow(A, alice, 1);
    }

    function test_credit_shifts() public {
        uint256[4] memory expected = [uint256(200 * E), 150 * E, 125 * E, 100 * E];
        for (uint8 s; s < 4; ++s) {
            address asset = address(uint160(0x1000 + s));
            lim.register(asset, _cfg(OutflowLimiter.Mode.REVERT, s), 1_000 * E);
            lim.inflow(asset, 500 * E);
            uint256 got = lim.headroom(asset);
            assertLe(got, expected[s]);
            assertApproxEqAbs(got, expected[s], expected[s] >> 21);
        }
    }

    function test_credit_decays() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        lim.inflow(A, 100 * E);
        lim.releaseLockedFunds(A); // settle: h = 200 against L(1,100) = 110
        _assertNear(lim.headroom(A), 200 * E, "full credit");
        skip(W / 2);
        _assertNear(lim.headroom(A), 145 * E, "half the credit decayed");
        skip(W / 2);
        assertEq(lim.headroom(A), 110 * E, "credit gone after one window");
    }

    function test_bigDeposit_cannotRaiseWhatLeaves_limitPhasesIn() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        lim.inflow(A, 9_000 * E); // liquidity 10,000: L will be 1,000
        uint256 h = lim.headroom(A);
        _assertNear(h, 200 * E, "at most L_before + credit");
        vm.expectRevert(_rateLimited(9_000 * E, h));
        lim.outflow(A, alice, 9_000 * E);
        assertTrue(lim.outflow(A, alice, h));
        uint256 limNew = lim.trackedLiquidity(A) / 10; // ~980
        skip(1 hours);
        assertApproxEqAbs(lim.headroom(A), limNew / 6, 1e13, "the new limit arrives through the refill");
        skip(5 hours);
        // L is computed on the liquidity rounded up to 57 significant bits (< 2^-56 relative).
        assertApproxEqAbs(lim.headroom(A), limNew, limNew >> 55);
    }

    function test_newLiquidity_protectedFromFirstBlock() public {
        OutflowLimiter.AssetConfig memory c = _cfg(OutflowLimiter.Mode.REVERT, 0);
        c.floor = 10 * E;
        lim.register(A, c, 0);
        lim.inflow(A, 1_000_000 * E);
        uint256 h = lim.headroom(A);
        _assertNear(h, 20 * E, "floor + credit only");
        vm.expectRevert(_rateLimited(1_000_000 * E, h));
        lim.outflow(A, alice, 1_000_000 * E);
    }

    function test_flash_sameAmount_netsZero() public {
        _reg(OutflowLimiter.Mode.REVERT, 0);
        lim.outflow(A, alice, 30 * E);
        uint256 before = lim.headroom(A);
        assertTrue(lim.flash(A, alice, 70 * E));
        uint256 afterFlash = lim.headroom(A);
        _assertNear(afterFlash, before, "a flash round trip nets zero, up to rounding in the protocol's favour");
    }

    function testFuzz_flash_neverGainsHeadroom(uint256 pre, uint256 d, uint8 shift, uint256 wait) public {
        shift = uint8(bound(shift, 0, 3));
        _reg(OutflowLimiter.Mode.REVERT, shift);
        pre = bound(pre, 0, 100 * E);
        if (pre > 0) lim.outflow(A, alice, pre);
        skip(bound(wait, 0, 2 * W));
        d = bound(d, 1, 1e27);
        uint256 before = lim.headroom(A);
        try lim.flash(A, alice, d) returns (bool paid) {
            assertTrue(paid);
            assertLe(lim.headroom(A), before, "a flash round trip never raises the headroom");
        } catch (bytes memory err) {
            assertEq(bytes4(err), OutflowLimiter.RateLimited.selector);
            assertGt(d, before, "only a round trip larger than the headroom can fail");
        }
    }

    /// @dev Holds the hand-written hot paths to the Solidity reference math of the views: at every step an
    ///      outflow of headroom()+1 must be refused and one of headroom() must pass on the fast path.
    function testFuzz_hotPathMatchesReference(uint256 seed) public {
        _reg(OutflowLimiter.Mode.REVERT, uint8(seed % 4));
        bool pending;
        for (uint256 i; i < 12; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            skip(r % (W / 2));
            uint256 op = (r >> 64) % 3;
            uint256 h = lim.headroom(A);
            if (op == 0) {
                uint256 d = (r >> 96) % (300 * E);
                uint256 capBefore = 2 * lim.currentLimit(A);
                lim.inflow(A, d);
                uint256 h2 = lim.headroom(A);
                // An inflow never raises the headroom by more than itself, nor above L_before + credit.
                assertLe(h2, h + d);
                if (!pending) assertLe(h2, capBefore);
                pending = true;
                if ((r >> 200) % 2 == 0) {
                    lim.releaseLockedFunds(A);
                    pending = false;
                    assertLe(lim.headroom(A), h2);
                }
            } else {
                uint256 liq = lim.trackedLiquidity(A);
                if (h < liq) {
                    vm.expectRevert(_rateLimited(h + 1, h));
                    lim.outflow(A, alice, h + 1);
                }
                uint256 a = op == 1 ? h : (r >> 96) % (h + 1);
                if (a > liq) a = liq;
                vm.record();
                assertTrue(lim.outflow(A, alice, a));
                (bytes32[] memory reads, bytes32[] memory writes) = vm.accesses(address(lim));
                assertEq(reads.length, 3, "fast path: flow and config slots only (SSTORE counts as a read)");
                assertEq(writes.length, 1, "fast path: one write");
                pending = false;
                uint256 h2 = lim.headroom(A);
                assertLe(h2, h - a);
                assertApproxEqAbs(h2, h - a, lim.currentLimit(A) / (1 << 29) + 2);
            }
        }
    }

    // ------------------------------------------------------------------ DELAYED mode: trips and claims

    function test_delayed_tripQueuesClaim() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        uint256 until = block.timestamp + 6 hours;
        vm.expectEmit(address(lim));
        emit OutflowLimiter.AssetRateLimitBreached(A, 150 * E, 100 * E, until);
        vm.expectEmit(address(lim));
        emit OutflowLimiter.FundsLocked(A, alice, 150 * E, 150 * E);
        assertFalse(lim.outflow(A, alice, 150 * E));
        assertTrue(lim.isRateLimitTriggered(A));
        (uint256 u, uint256 cap) = lim.tripInfo(A);
        assertEq(u, until);
        assertEq(cap, until + 24 hours);
        assertEq(lim.lockedFunds(alice, A), 150 * E);
        assertEq(lim.trackedLiquidity(A), 1_000 * E, "queued funds stay tracked until released");
        assertEq(lim.headroom(A), 0);
        // While tripped every outflow of this asset queues, however small.
        assertFalse(lim.outflow(A, bob, 1));
        (uint256 queued, uint256 released) = lim.queueInfo(A);
        assertEq(queued, 150 * E + 1);
        assertEq(released, 0);
    }

    function test_delayed_tripIsScopedToAssetAndOutflows() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        lim.register(B, _cfg(OutflowLimiter.Mode.DELAYED, 0), 1_000 * E);
        lim.outflow(A, alice, 150 * E);
        assertTrue(lim.isRateLimitTriggered(A));
        lim.inflow(A, 10 * E); // inflows never blocked
        assertEq(lim.trackedLiquidity(A), 1_010 * E);
        assertFalse(lim.isRateLimitTriggered(B));
        assertTrue(lim.outflow(B, alice, 50 * E), "another asset is untouched");
    }

    function test_claim_beforeClear_reverts() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        lim.outflow(A, alice, 150 * E);
        assertEq(lim.claimLockedFunds(A, alice), 0, "not before the trip clears");
        assertEq(lim.lockedFunds(alice, A), 150 * E);
        assertEq(lim.paid(A, alice), 0);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.NoLockedFunds.selector, A, bob));
        lim.claimLockedFunds(A, bob);
    }

    function test_claims_releasedFifoAfterClear_neverLost() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        lim.outflow(A, alice, 80 * E); // paid, h = 20
        assertFalse(lim.outflow(A, alice, 60 * E)); // trip; alice queued [0, 60)
        assertFalse(lim.outflow(A, bob, 50 * E)); // bob queued [60, 110)
        skip(6 hours); // trip over; bucket refilled to L(920) = 92
        assertFalse(lim.isRateLimitTriggered(A));
        vm.expectEmit(address(lim));
        emit OutflowLimiter.RateLimitCleared(A, address(0));
        vm.expectEmit(address(lim));
        emit OutflowLimiter.LockedFundsReleased(A, 92 * E, 92 * E);
        vm.expectEmit(address(lim));
        emit OutflowLimiter.LockedFundsClaimed(A, alice, 60 * E);
        vm.prank(stranger); // anyone may trigger; funds go to the recipient
        assertEq(lim.claimLockedFunds(A, alice), 60 * E);
        assertEq(lim.paid(A, alice), 60 * E);
        assertEq(lim.lockedFunds(alice, A), 0);
        // Bob waits for 18 more units of headroom: FIFO, nobody jumps him.
        assertEq(lim.claimLockedFunds(A, bob), 0);
        (, uint256 released) = lim.queueInfo(A);
        assertEq(released, 92 * E);
        assertFalse(lim.outflow(A, alice, 1), "new outflows queue behind the backlog");
        skip(2 hours);
        assertEq(lim.claimLockedFunds(A, bob), 50 * E);
        assertEq(lim.paid(A, bob), 50 * E);
        lim.claimLockedFunds(A, alice);
        assertEq(lim.paid(A, alice), 60 * E + 1);
        assertTrue(lim.outflow(A, alice, 1), "fast path again once the backlog is gone");
        assertEq(lim.trackedLiquidity(A), 1_000 * E - 80 * E - 110 * E - 2);
    }

    function test_overrideRateLimit_governanceOnly() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.NotTripped.selector, A));
        lim.overrideRateLimit(A);
        lim.outflow(A, alice, 150 * E);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        lim.overrideRateLimit(A);
        vm.expectEmit(address(lim));
        emit OutflowLimiter.RateLimitCleared(A, gov);
        vm.prank(gov);
        lim.overrideRateLimit(A);
        assertFalse(lim.isRateLimitTriggered(A));
        // The bucket (100) releases the first 100 of alice's 150 at once; the rest follows the refill.
        assertEq(lim.claimLockedFunds(A, alice), 0);
        skip(4 hours); // L is now 90: 50 more needs 3 h 20 min
        assertEq(lim.claimLockedFunds(A, alice), 150 * E);
    }

    function test_overrideRateLimit_releasesAsHeadroomAllows() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        lim.outflow(A, alice, 100 * E); // h = 0
        lim.outflow(A, bob, 10 * E); // trip
        vm.prank(gov);
        lim.overrideRateLimit(A);
        assertEq(lim.claimLockedFunds(A, bob), 0);
        skip(1 hours);
        assertEq(lim.claimLockedFunds(A, bob), 10 * E);
    }

    function test_extendRateLimit_bounds() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.NotTripped.selector, A));
        lim.extendRateLimit(A, block.timestamp + 1 days);
        lim.outflow(A, alice, 150 * E);
        (uint256 until, uint256 cap) = lim.tripInfo(A);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGuardian.selector, stranger));
        lim.extendRateLimit(A, until + 1);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.ExtensionOutOfBounds.selector, A, cap + 1, cap));
        lim.extendRateLimit(A, cap + 1);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.ExtensionOutOfBounds.selector, A, until, cap));
        lim.extendRateLimit(A, until);
        vm.expectEmit(address(lim));
        emit OutflowLimiter.RateLimitExtended(A, cap, guardian);
        vm.prank(guardian);
        lim.extendRateLimit(A, cap);
        // The guardian's total is bounded per trip: nothing more to add.
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.ExtensionOutOfBounds.selector, A, cap + 1, cap));
        lim.extendRateLimit(A, cap + 1);
        // Governance may go further, up to 30 days ahead per call.
        uint256 govMax = block.timestamp + 30 days;
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.ExtensionOutOfBounds.selector, A, govMax + 1, govMax));
        lim.extendRateLimit(A, govMax + 1);
        vm.prank(gov);
        lim.extendRateLimit(A, govMax);
        skip(30 days - 1);
        assertTrue(lim.isRateLimitTriggered(A));
        skip(1);
        assertFalse(lim.isRateLimitTriggered(A), "every trip ends");
    }

    function test_revertMode_whileTripped_reverts() public {
        _reg(OutflowLimiter.Mode.DELAYED, 0);
        lim.outflow(A, alice, 150 * E);
        (uint256 until,) = lim.tripInfo(A);
        vm.prank(gov);
        lim.updateAssetParams(A, _cfg(OutflowLimiter.Mode.REVERT, 0));
        vm.expectRevert(abi.encodeWithSelector(OutflowLimiter.RateLimitActive.selector, A, until));
        lim.outflow(A, bob, 1);
        skip(6 hours);
        vm.expectRevert(_rateLimited(1, 0)); // behind the backlog still
        lim.outflow(A, bob, 1);
        assertEq(lim.claimLockedFunds(A, alice), 0); // releases 100 of 150, kept
        skip(4 hours);
        assertEq(lim.claimLockedFunds(A, alice), 150 * E);
        assertTrue(lim.outflow(A, bob, 1));
    }
}
