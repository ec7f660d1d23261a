// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A target for timelocked calls: records who called and with which tag.
contract CallTarget {
    uint256 public calls;
    uint256 public lastTag;
    address public lastCaller;

    event Called(address caller, uint256 tag);

    function ping(uint256 tag) external payable {
        calls += 1;
        lastTag = tag;
        lastCaller = msg.sender;
        emit Called(msg.sender, tag);
    }
}
