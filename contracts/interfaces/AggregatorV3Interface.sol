// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title AggregatorV3Interface
/// @notice The read interface of a Chainlink-style price feed, with the same function signatures, so
///         that Bastion's guards can read real Chainlink feeds and Bastion's own mocks alike.
interface AggregatorV3Interface {
    /// @notice Decimal places of `answer`.
    function decimals() external view returns (uint8);

    /// @notice Human-readable description of the feed (for example "ETH / USD").
    function description() external view returns (string memory);

    /// @notice Version of the aggregator implementation.
    function version() external view returns (uint256);

    /// @notice Data of one past round.
    /// @param roundId The round to read.
    /// @return roundId The round read.
    /// @return answer The price in `decimals()` decimals.
    /// @return startedAt When the round started.
    /// @return updatedAt When the answer was last updated.
    /// @return answeredInRound The round in which the answer was computed.
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice Data of the latest round; same fields as `getRoundData`.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
