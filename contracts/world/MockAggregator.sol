// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title MockAggregator
/// @notice A Chainlink-style feed for local chains, tests and rehearsals: a feeder key pushes answers,
///         each push opens a new round stamped with the block time.
/// @dev Keeps every round so `getRoundData` works like the real thing. Local worlds only: the feeder
///      can report anything, which is the point (rehearsals need stale, wrong and crashing feeds).
contract MockAggregator is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    /// @inheritdoc AggregatorV3Interface
    uint8 public immutable override decimals;
    /// @notice The only account allowed to push answers.
    address public feeder;
    /// @notice The id of the latest round (0 until the first answer).
    uint80 public latestRound;
    string private _description;
    mapping(uint80 roundId => Round) private _rounds;

    /// @notice A new round was written.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    /// @notice The feeder key changed.
    event FeederChanged(address indexed previous, address indexed next);

    /// @notice The caller is not the feeder.
    error NotFeeder(address caller);
    /// @notice The round was never written.
    error NoDataPresent(uint80 roundId);

    /// @param decimals_ Decimal places of answers (8 for Chainlink USD feeds).
    /// @param description_ Feed description, for example "ETH / USD".
    /// @param feeder_ Account allowed to push answers.
    constructor(uint8 decimals_, string memory description_, address feeder_) {
        decimals = decimals_;
        _description = description_;
        feeder = feeder_;
        emit FeederChanged(address(0), feeder_);
    }

    modifier onlyFeeder() {
        if (msg.sender != feeder) revert NotFeeder(msg.sender);
        _;
    }

    /// @notice Push a new answer, opening a new round stamped with the current block time.
    /// @param answer The price in `decimals` decimals (zero or negative allowed, to rehearse bad feeds).
    function setAnswer(int256 answer) external onlyFeeder {
        _write(answer, block.timestamp);
    }

    /// @notice Push a new answer with an explicit `updatedAt` (rehearses feeds that lag or run ahead).
    /// @param answer The price in `decimals` decimals.
    /// @param updatedAt The timestamp the round reports.
    function setAnswerAt(int256 answer, uint256 updatedAt) external onlyFeeder {
        _write(answer, updatedAt);
    }

    /// @notice Hand the feeder role to `next`.
    /// @param next The new feeder.
    function setFeeder(address next) external onlyFeeder {
        emit FeederChanged(feeder, next);
        feeder = next;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 4;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = _rounds[roundId];
        if (r.updatedAt == 0) revert NoDataPresent(roundId);
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        uint80 id = latestRound;
        Round memory r = _rounds[id];
        return (id, r.answer, r.startedAt, r.updatedAt, id);
    }

    function _write(int256 answer, uint256 updatedAt) private {
        uint80 id = latestRound + 1;
        latestRound = id;
        // forge-lint: disable-next-line(unsafe-typecast)
        _rounds[id] = Round(answer, uint64(block.timestamp), uint64(updatedAt));
        emit AnswerUpdated(answer, id, updatedAt);
    }
}
