// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title GuardAccess
/// @notice The two privileged parties every Bastion guard knows: `governance` (a timelock, slow and
///         broad) and `guardian` (a Safe or the watchtower's key, fast and narrow).
/// @dev Deliberately tiny: no role enumeration, no admin-of-admin. The guardian's powers are bounded
///      by each guard (see docs/powers.md); governance replaces the guardian and hands itself over.
abstract contract GuardAccess {
    /// @notice The timelock (or other slow governance) that holds the broad powers.
    address public governance;
    /// @notice The fast responder whose powers each guard bounds in scope, size and time.
    address public guardian;

    /// @notice Emitted when governance hands its role to a new address.
    event GovernanceTransferred(address indexed previous, address indexed next);
    /// @notice Emitted when governance replaces the guardian.
    event GuardianChanged(address indexed previous, address indexed next);

    /// @notice The caller is not governance.
    error NotGovernance(address caller);
    /// @notice The caller is neither the guardian nor governance.
    error NotGuardian(address caller);
    /// @notice A zero address was given where a party is required.
    error ZeroAddress();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    /// @dev Governance can always do what the guardian can.
    modifier onlyGuardian() {
        if (msg.sender != guardian && msg.sender != governance) revert NotGuardian(msg.sender);
        _;
    }

    constructor(address governance_, address guardian_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        guardian = guardian_;
        emit GovernanceTransferred(address(0), governance_);
        emit GuardianChanged(address(0), guardian_);
    }

    /// @notice Hand the governance role to `next` (for example a new timelock).
    /// @param next The new governance address; never zero, so the role cannot be dropped by mistake.
    function transferGovernance(address next) external onlyGovernance {
        if (next == address(0)) revert ZeroAddress();
        emit GovernanceTransferred(governance, next);
        governance = next;
    }

    /// @notice Replace the guardian; zero removes the guardian's powers altogether.
    /// @param next The new guardian address.
    function setGuardian(address next) external onlyGovernance {
        emit GuardianChanged(guardian, next);
        guardian = next;
    }
}
