// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {OracleGuard} from "../../contracts/guards/OracleGuard.sol";
import {PoolTwapFeed, ICumulativePricePool} from "../../contracts/guards/PoolTwapFeed.sol";
import {ConstantProductPool} from "../../contracts/world/ConstantProductPool.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {MockAggregator} from "../../contracts/world/MockAggregator.sol";

/// @notice OracleGuard with an independent reference: the real test-world pool's TWAP (PoolTwapFeed).
///         Both feeds are signed by one key here (this test): the reference is what that key cannot move.
contract OracleReferenceTest is Test {
    OracleGuard internal og;
    MockAggregator internal a;
    MockAggregator internal b;
    MintableToken internal weth;
    MintableToken internal usdc;
    ConstantProductPool internal pool;
    PoolTwapFeed internal twap;
    address internal gov = makeAddr("governance");
    bytes32 internal constant ETH = "ETH-PERP";
    uint256 internal constant BOUND = 300; // 3%

    function setUp() public {
        vm.warp(1_700_000_000);
        og = new OracleGuard(gov, makeAddr("guardian"));
        a = new MockAggregator(8, "ETH / USD", address(this));
        b = new MockAggregator(8, "ETH / USD (B)", address(this));
        _feeds(2_000e8);
        weth = new MintableToken("Wrapped Ether", "WETH", 18, address(this));
        usdc = new MintableToken("USD Coin", "USDC", 6, address(this));
        pool = new ConstantProductPool(weth, usdc, 18, 6);
        weth.mint(address(pool), 1_000e18);
        usdc.mint(address(pool), 2_000_000e6);
        pool.sync();
        twap = new PoolTwapFeed(ICumulativePricePool(address(pool)), 30 minutes);
        vm.startPrank(gov);
        og.setMarket(
            ETH,
            OracleGuard.FeedConfig({
                primary: address(a),
                primaryHeartbeat: 1 hours,
                secondary: address(b),
                secondaryHeartbeat: 3 hours,
                maxDeviationBps: 200,
                maxJumpBps: 1_000,
                jumpInterval: 1 hours,
                jumpCooldown: 15 minutes
            })
        );
        og.setReference(ETH, address(twap), 1 hours, BOUND);
        vm.stopPrank();
        _elapse(31 minutes);
    }

    function _feeds(int256 usd8) internal {
        a.setAnswer(usd8);
        b.setAnswer(usd8);
    }

    /// @dev Time passes; the feeds re-answer their current price (fresh) and the keeper rolls the TWAP.
    function _elapse(uint256 dt) internal {
        skip(dt);
        (, int256 pa,,,) = a.latestRoundData();
        (, int256 pb,,,) = b.latestRoundData();
        a.setAnswer(pa);
        b.setAnswer(pb);
        twap.update();
    }

    /// @dev Move the pool's spot price to `usd` per ETH by adding to one side (no burning needed).
    function _poolTo(uint256 usd) internal {
        uint256 r0 = weth.balanceOf(address(pool));
        uint256 r1 = usdc.balanceOf(address(pool));
        uint256 spot = pool.spotPrice() / 1e18;
        if (usd > spot) usdc.mint(address(pool), (r0 * usd) / 1e12 - r1);
        else weth.mint(address(pool), (r1 * 1e12) / usd - r0);
        pool.sync();
    }

    function test_twapReadsThePool_andIgnoresThisBlocksSpotMove() public {
        (, int256 p,, uint256 at,) = twap.latestRoundData();
        assertEq(uint256(p), 2_000e18);
        assertEq(at, block.timestamp);
        _poolTo(4_000); // a flash move in this block weighs nothing yet
        (, p,,,) = twap.latestRoundData();
        assertEq(uint256(p), 2_000e18);
        skip(12); // one block later it weighs 12 s of at least 30 min
        (, p,,,) = twap.latestRoundData();
        assertLt(uint256(p), 2_030e18);
    }

    function test_twapUnusableUntilAWindowHasPassed() public {
        PoolTwapFeed fresh = new PoolTwapFeed(ICumulativePricePool(address(pool)), 30 minutes);
        (, int256 p,,,) = fresh.latestRoundData();
        assertEq(p, 0);
        skip(30 minutes);
        (, p,,,) = fresh.latestRoundData();
        assertEq(uint256(p), 2_000e18);
    }

    /// @dev One key signs both feeds: a jump they "corroborate" is not accepted against the pool.
    function test_jumpCorroboratedOnlyBySameSignerFeeds_isRefused_andPriceStaysInBand() public {
        (uint256 p0,) = og.checkedPrice(ETH);
        assertEq(p0, 2_000e18);
        for (uint256 k; k < 4; ++k) {
            _feeds(2_600e8); // +30%: beyond the jump limit and the reference band
            (uint256 p, bool ro) = og.checkedPrice(ETH);
            assertTrue(ro);
            assertLe(p, 2_060e18, "never handed out beyond the band around the pool");
            _elapse(20 minutes);
        }
        // Sub-threshold pushes (+2.5% each) also stop at the band: a ramp cannot walk away from the pool.
        _feeds(2_000e8);
        _elapse(1 hours);
        (uint256 q,) = og.checkedPrice(ETH);
        for (uint256 k = 1; k <= 6; ++k) {
            _feeds(int256(2_000e8 + k * 50e8));
            (uint256 p,) = og.checkedPrice(ETH);
            assertLe(p, 2_060e18);
            q = p;
            _elapse(12);
        }
        assertLe(q, 2_060e18);
    }

    /// @dev A genuine crash: the pool moves too. The feeds' jump is accepted once the TWAP agrees; until then
    ///      the held price follows the TWAP's band instead of staying at the pre-crash price.
    function test_realCrash_heldPriceFollowsTheBand_thenAccepted() public {
        _poolTo(1_600);
        _feeds(1_600e8); // -20%
        (uint256 p, bool ro) = og.checkedPrice(ETH);
        assertTrue(ro);
        assertLe(p, 2_000e18 * (10_000 + BOUND) / 10_000);
        uint256 prev = p;
        for (uint256 k; k < 8; ++k) {
            _elapse(10 minutes);
            (p,) = og.checkedPrice(ETH);
            (, int256 r,,,) = twap.latestRoundData();
            uint256 ref = uint256(r);
            assertLe(p, ref + ref * BOUND / 10_000, "within the band above");
            assertGe(p + 1, ref - ref * BOUND / 10_000, "within the band below");
            assertLe(p, prev);
            prev = p;
        }
        assertEq(p, 1_600e18, "accepted once the TWAP caught up");
        skip(15 minutes);
        (, bool ro2) = og.checkedPrice(ETH);
        a.setAnswer(1_600e8);
        b.setAnswer(1_600e8);
        (p, ro2) = og.checkedPrice(ETH);
        assertEq(p, 1_600e18);
        assertFalse(ro2);
    }

    /// @dev Stale second feed on a crash day: the held price is clamped to the pool's band.
    function test_staleFeedDuringCrash_heldPriceBounded() public {
        _poolTo(1_480); // -26%
        skip(3 hours + 1); // the secondary goes stale, the primary keeps answering the old price
        a.setAnswer(2_000e8);
        (uint256 p, bool ro) = og.checkedPrice(ETH);
        assertTrue(ro);
        (, int256 r,,,) = twap.latestRoundData();
        assertLe(p, uint256(r) + uint256(r) * BOUND / 10_000);
    }

    function test_unusableReference_leavesTheFeedsInCharge() public {
        vm.prank(gov);
        og.setReference(ETH, address(twap), 1, BOUND); // heartbeat 1 s: usable (updatedAt is now)
        _feeds(2_040e8);
        (uint256 p,) = og.checkedPrice(ETH);
        assertEq(p, 2_040e18);
        vm.prank(gov);
        og.setReference(ETH, address(0), 0, 0);
        _feeds(2_600e8); // without a reference, two agreeing feeds corroborate a jump (documented)
        (p,) = og.checkedPrice(ETH);
        assertEq(p, 2_600e18);
    }

    function test_setReference_boundsAndGovernanceOnly() public {
        vm.expectRevert();
        og.setReference(ETH, address(twap), 1 hours, BOUND);
        vm.startPrank(gov);
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, ETH, "referenceBoundBps"));
        og.setReference(ETH, address(twap), 1 hours, 2_001);
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.InvalidConfig.selector, ETH, "referenceHeartbeat"));
        og.setReference(ETH, address(twap), 0, BOUND);
        vm.expectRevert(abi.encodeWithSelector(OracleGuard.UnknownMarket.selector, bytes32("NOPE")));
        og.setReference("NOPE", address(twap), 1 hours, BOUND);
        vm.stopPrank();
        assertEq(og.referenceOf(ETH).feed, address(twap));
        assertTrue(og.configOf(ETH).hasReference);
    }
}
