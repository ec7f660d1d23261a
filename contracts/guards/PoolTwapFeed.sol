// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice What PoolTwapFeed needs of a pool: a Uniswap-v2-style cumulative spot price.
interface ICumulativePricePool {
    /// @notice Σ spot price (18 decimals) × seconds, up to `lastUpdate`.
    function priceCumulative() external view returns (uint256);
    /// @notice Time the cumulative price was last brought up to date.
    function lastUpdate() external view returns (uint32);
    /// @notice The current spot price (18 decimals).
    function spotPrice() external view returns (uint256);
}

/// @title PoolTwapFeed
/// @notice A Chainlink-style read (18 decimals) of a pool's time-weighted average price over at least
///         `window` seconds, ending now: an on-chain price source that a feed signer does not control and
///         that costs a manipulator capital for the whole window. OracleGuard takes it as a market's
///         independent reference.
/// @dev Two observations of the pool's cumulative price; `update` (anyone, e.g. a keeper) rolls them
///      once the newer is `window` old. The average always runs from the newest observation that is at
///      least `window` old to now, so it spans between `window` and twice the gap between updates.
///      A spot move made in the current block weighs nothing until the next block.
contract PoolTwapFeed {
    /// @notice The pool averaged.
    ICumulativePricePool public immutable pool;
    /// @notice Shortest averaging time, seconds.
    uint256 public immutable window;
    /// @notice Answers carry 18 decimals.
    uint8 public constant decimals = 18;

    uint256 private _olderCumulative;
    uint256 private _olderAt;
    uint256 private _newerCumulative;
    uint256 private _newerAt;

    /// @notice The observations rolled: the newest is now (`cumulative` at `at`).
    event Observed(uint256 cumulative, uint256 at);

    /// @notice A window of zero.
    error InvalidWindow();

    /// @param pool_ The pool.
    /// @param window_ Shortest averaging time (seconds), for example 30 minutes.
    constructor(ICumulativePricePool pool_, uint256 window_) {
        if (window_ == 0) revert InvalidWindow();
        pool = pool_;
        window = window_;
        _newerCumulative = _cumulativeNow();
        _newerAt = block.timestamp;
        emit Observed(_newerCumulative, block.timestamp);
    }

    /// @notice Record a new observation once the newest is `window` old (otherwise nothing happens).
    function update() external {
        if (block.timestamp < _newerAt + window) return;
        _olderCumulative = _newerCumulative;
        _olderAt = _newerAt;
        _newerCumulative = _cumulativeNow();
        _newerAt = block.timestamp;
        emit Observed(_newerCumulative, block.timestamp);
    }

    /// @notice The time-weighted average price ending now; answer 0 (unusable) until `window` has passed
    ///         since deployment. `updatedAt` is now: the average includes the current block.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint256 cum;
        uint256 at;
        if (block.timestamp >= _newerAt + window) (cum, at) = (_newerCumulative, _newerAt);
        else if (_olderAt != 0) (cum, at) = (_olderCumulative, _olderAt); // at least `window` before the newer
        if (at != 0) answer = int256((_cumulativeNow() - cum) / (block.timestamp - at));
        return (1, answer, at, block.timestamp, 1);
    }

    /// @dev The pool's cumulative price brought forward to now at its current spot price.
    function _cumulativeNow() private view returns (uint256 cum) {
        cum = pool.priceCumulative();
        uint256 last = pool.lastUpdate();
        if (last != 0 && block.timestamp > last) cum += pool.spotPrice() * (block.timestamp - last);
    }
}
