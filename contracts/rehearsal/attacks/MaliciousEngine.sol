// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ICollateralVault} from "../../interfaces/IProtocolGuards.sol";

/// @title MaliciousEngine
/// @notice REHEARSAL ATTACK payload (Beanstalk's governance takeover April 2022, the Tornado Cash
///         governance takeover May 2023, compromised admin keys): an "upgrade" queued in the timelock by a
///         compromised proposer key points the Vault at this engine, whose only job is to pay its owner.
contract MaliciousEngine {
    address public immutable owner;

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    /// @notice Ask `vault` (which obeys its engine) to pay `amount` to `to`.
    /// @return paidNow False when the vault's outflow limiter queued it as a claim.
    function drain(ICollateralVault vault, address to, uint256 amount) external returns (bool paidNow) {
        if (msg.sender != owner) revert NotOwner();
        return vault.pay(to, amount);
    }
}
