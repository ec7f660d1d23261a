// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {GuardAccess} from "../../../contracts/guards/GuardAccess.sol";
import {HeldPause} from "../../../contracts/guards/HeldPause.sol";
import {ScopedPause} from "../../../contracts/guards/ScopedPause.sol";
import {PauseOps} from "../../../contracts/guards/PauseOps.sol";

/// @notice ScopedPause with a toy protocol: each op bumps a counter after the pause check.
contract PauseHarness is HeldPause {
    mapping(uint8 op => uint256) public done;

    constructor(address governance_, address guardian_)
        GuardAccess(governance_, guardian_)
        ScopedPause(24 hours, 48 hours, 4 hours)
    {}

    function check(uint8 op, uint256 market) external view {
        _requireNotPaused(op, market);
    }

    function act(uint8 op, uint256 market) external {
        _requireNotPaused(op, market);
        ++done[op];
    }

    /// @dev A liquidation that follows the documented grace rule: refuse while in grace.
    function liquidate(uint256 market, bool becameUnsafeDuringPause) external {
        _requireNotPaused(PauseOps.LIQUIDATE, market);
        if (becameUnsafeDuringPause && block.timestamp < this.liquidationGraceEnds(market)) revert("grace");
        ++done[PauseOps.LIQUIDATE];
    }
}
