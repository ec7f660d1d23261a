// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";

/// @title PerpMath
/// @notice The position arithmetic of the reference clearinghouse, pure so it can be fuzzed alone.
/// @dev Units: sizes are 1e18 per unit of the base asset (signed: long > 0); prices are 1e18 USD per unit;
///      "value" amounts are 1e18 USD (signed); collateral is in the stablecoin's base units (1e6 for USDC).
///      Every conversion from value to collateral rounds in the protocol's favour: credits round down,
///      debits round up, so the vault never owes more than the books say.
library PerpMath {
    int256 internal constant WAD = 1e18;
    uint256 internal constant BPS = 10_000;

    /// @dev Value (1e18 USD) of `size` at `price`; rounds toward zero.
    function value(int256 size, uint256 price) internal pure returns (int256) {
        // Oracle prices are below 2^128 (OracleGuard bounds them).
        // forge-lint: disable-next-line(unsafe-typecast)
        return (size * int256(price)) / WAD;
    }

    /// @dev |size| * price, 1e18 USD.
    function notional(int256 size, uint256 price) internal pure returns (uint256) {
        return Math.mulDiv(SignedMath.abs(size), price, 1e18);
    }

    /// @dev Floor division (toward negative infinity), unlike Solidity's `/` which truncates.
    function floorDiv(int256 a, int256 b) internal pure returns (int256 q) {
        q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    }

    /// @dev Convert a signed value (1e18 USD) to collateral units, rounded toward negative infinity.
    function toCollateralDown(int256 value18, uint256 scale) internal pure returns (int256) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return floorDiv(value18, int256(scale));
    }

    /// @dev Convert an unsigned value (1e18 USD) to collateral units, rounded up (for debits).
    function toCollateralUp(uint256 value18, uint256 scale) internal pure returns (uint256) {
        return Math.ceilDiv(value18, scale);
    }

    /// @dev Unrealized PnL of a position net of funding owed, 1e18 USD: size*price - openNotional - funding.
    function unrealized(int256 size, int256 openNotional, int256 fundingEntry, int256 fundingIndex, uint256 price)
        internal
        pure
        returns (int256)
    {
        return value(size, price) - openNotional - fundingOwed(size, fundingEntry, fundingIndex);
    }

    /// @dev Funding a position owes since its entry index (positive: it pays). 1e18 USD.
    function fundingOwed(int256 size, int256 fundingEntry, int256 fundingIndex) internal pure returns (int256) {
        return (size * (fundingIndex - fundingEntry)) / WAD;
    }

    /// @dev Apply a trade of `delta` at `price` to a position (size, openNotional).
    ///      Returns the new size and open notional and the realized PnL (1e18 USD) of the part closed.
    ///      The open notional of a partly closed position is reduced in proportion (rounded toward zero).
    function applyTrade(int256 size, int256 openNotional, int256 delta, uint256 price)
        internal
        pure
        returns (int256 newSize, int256 newOpenNotional, int256 realized)
    {
        if (delta == 0) return (size, openNotional, 0);
        if (size == 0 || (size > 0) == (delta > 0)) {
            return (size + delta, openNotional + value(delta, price), 0);
        }
        uint256 absSize = SignedMath.abs(size);
        uint256 absDelta = SignedMath.abs(delta);
        if (absDelta <= absSize) {
            int256 closed = -delta; // same sign as size
            int256 closedNotional = (openNotional * closed) / size;
            realized = value(closed, price) - closedNotional;
            return (size + delta, openNotional - closedNotional, realized);
        }
        // Flip: close everything, open the remainder on the other side.
        realized = value(size, price) - openNotional;
        int256 remainder = size + delta;
        return (remainder, value(remainder, price), realized);
    }

    /// @dev Requirement of `bps` of the notional, 1e18 USD.
    function requirement(int256 size, uint256 price, uint256 bps) internal pure returns (uint256) {
        return Math.mulDiv(notional(size, price), bps, BPS, Math.Rounding.Ceil);
    }

    /// @dev Funding rate per second (1e18 = 100%/s) from the skew of trader open interest: the heavier side
    ///      pays, proportionally to its share of the imbalance, at most `maxRatePerDay` (1e18 = 100%/day).
    function fundingRatePerSecond(uint256 longOi, uint256 shortOi, uint256 maxRatePerDay)
        internal
        pure
        returns (int256)
    {
        uint256 total = longOi + shortOi;
        if (total == 0) return 0;
        // Open interest is uint128 and the day rate a registry value (uint104): the casts cannot wrap.
        // forge-lint: disable-next-line(unsafe-typecast)
        int256 skew = int256(longOi) - int256(shortOi);
        // forge-lint: disable-next-line(unsafe-typecast)
        return (int256(maxRatePerDay) * skew) / int256(total) / 1 days;
    }
}
