// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {PerpMath} from "../../contracts/protocol/PerpMath.sol";

/// @dev Exposes the library's internal functions so forge can fuzz them.
contract PerpMathHarness {
    function applyTrade(int256 size, int256 open, int256 delta, uint256 price)
        external
        pure
        returns (int256, int256, int256)
    {
        return PerpMath.applyTrade(size, open, delta, price);
    }

    function floorDiv(int256 a, int256 b) external pure returns (int256) {
        return PerpMath.floorDiv(a, b);
    }
}

contract PerpMathTest is Test {
    PerpMathHarness internal h = new PerpMathHarness();

    function test_openLongThenCloseAtProfit() public view {
        // Buy 2 ETH at 2,000, sell them at 2,100: +200 USD.
        (int256 size, int256 open, int256 realized) = h.applyTrade(0, 0, 2e18, 2_000e18);
        assertEq(size, 2e18);
        assertEq(open, 4_000e18);
        assertEq(realized, 0);
        (size, open, realized) = h.applyTrade(size, open, -2e18, 2_100e18);
        assertEq(size, 0);
        assertEq(open, 0);
        assertEq(realized, 200e18);
    }

    function test_shortLosesWhenPriceRises() public view {
        (int256 size, int256 open,) = h.applyTrade(0, 0, -1e18, 30_000e18);
        assertEq(open, -30_000e18);
        (,, int256 realized) = h.applyTrade(size, open, 1e18, 33_000e18);
        assertEq(realized, -3_000e18);
    }

    function test_partialCloseRealizesProportionally() public view {
        (int256 size, int256 open,) = h.applyTrade(0, 0, 4e18, 1_000e18);
        (size, open,) = h.applyTrade(size, open, 4e18, 2_000e18); // average entry 1,500
        (int256 s2, int256 o2, int256 realized) = h.applyTrade(size, open, -2e18, 1_800e18);
        assertEq(s2, 6e18);
        assertEq(o2, 9_000e18);
        assertEq(realized, 600e18); // 2 * (1,800 - 1,500)
    }

    function test_flipClosesAndOpensTheRemainder() public view {
        (int256 size, int256 open,) = h.applyTrade(0, 0, 1e18, 100e18);
        (int256 s2, int256 o2, int256 realized) = h.applyTrade(size, open, -3e18, 120e18);
        assertEq(realized, 20e18);
        assertEq(s2, -2e18);
        assertEq(o2, -240e18);
    }

    function test_fundingRateFollowsTheSkew() public pure {
        assertEq(PerpMath.fundingRatePerSecond(0, 0, 1e17), 0);
        assertGt(PerpMath.fundingRatePerSecond(3e18, 1e18, 1e17), 0); // longs pay
        assertLt(PerpMath.fundingRatePerSecond(1e18, 3e18, 1e17), 0); // shorts pay
        assertEq(PerpMath.fundingRatePerSecond(5e18, 0, 864e18), 1e16); // all on one side: the max per day / 86,400
    }

    /// @dev Round trip at one price realizes nothing; at another, exactly size * move (up to 1 wei).
    function testFuzz_roundTrip(int96 delta, uint96 p0, uint96 p1) public view {
        vm.assume(delta != 0);
        uint256 a = uint256(p0) + 1;
        uint256 b = uint256(p1) + 1;
        (int256 size, int256 open,) = h.applyTrade(0, 0, delta, a);
        (int256 s2, int256 o2, int256 realized) = h.applyTrade(size, open, -int256(delta), b);
        assertEq(s2, 0);
        assertEq(o2, 0);
        int256 exact = (int256(delta) * (int256(b) - int256(a))) / 1e18;
        assertApproxEqAbs(realized, exact, 1);
    }

    /// @dev Trader and mirrored maker realize opposite PnL: the book stays zero-sum up to rounding.
    function testFuzz_zeroSumWithMaker(int96 d1, int96 d2, uint64 p0, uint64 p1) public view {
        vm.assume(d1 != 0 && d2 != 0);
        uint256 a = uint256(p0) + 1e6;
        uint256 b = uint256(p1) + 1e6;
        (int256 ts, int256 to,) = h.applyTrade(0, 0, d1, a);
        (int256 ms, int256 mo,) = h.applyTrade(0, 0, -int256(d1), a);
        (,, int256 tr) = h.applyTrade(ts, to, d2, b);
        (,, int256 mr) = h.applyTrade(ms, mo, -int256(d2), b);
        assertApproxEqAbs(tr + mr, 0, 2);
    }

    function testFuzz_floorDivRoundsDown(int128 a, int64 b) public view {
        vm.assume(b != 0);
        int256 q = h.floorDiv(a, b);
        // q is the largest integer with q*b <= a (b > 0) or q*b >= a (b < 0).
        if (b > 0) {
            assertLe(q * b, a);
            assertGt((q + 1) * b, a);
        } else {
            assertGe(q * b, a);
            assertLt((q + 1) * b, a);
        }
    }
}
