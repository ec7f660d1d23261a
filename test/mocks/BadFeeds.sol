// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A feed whose reads revert (a deprecated or paused aggregator); decimals still answer.
contract RevertingFeed {
    bool public broken;

    function setBroken(bool b) external {
        broken = b;
    }

    function decimals() external pure returns (uint8) {
        return 8;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        require(!broken, "feed down");
        return (1, 2000e8, block.timestamp, block.timestamp, 1);
    }
}

/// @notice A feed that returns too few bytes (not an aggregator at all).
contract ShortFeed {
    function decimals() external pure returns (uint8) {
        return 8;
    }

    fallback() external {
        assembly {
            mstore(0, 1)
            return(0, 0x20)
        }
    }
}
