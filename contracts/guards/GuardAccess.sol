// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title GuardAccess
/// @notice The two privileged parties every Bastion guard knows: `governance` (a timelock, slow and
///         broad) and `guardian` (a Safe or the watchtower's key, fast and narrow).
/// @dev Deliberately tiny: no role enumeration, no admin-of-admin. The guardian's powers are bounded
///      by each guard (see docs/powers.md); governance replaces the guardian and hands itself over in
///      two steps (propose, then the new address accepts), so a mistyped address never takes the role.
abstract contract GuardAccess {
    /// @notice The timelock (or other slow governance) that holds the broad powers.
    address public governance;
    /// @notice The fast responder whose powers each guard bounds in scope, size and time.
    address public guardian;
    /// @notice The address governance proposed as its successor; it holds no power until it accepts.
    address public pendingGovernance;

    /// @notice Emitted when governance proposes `next` as its successor (zero: the proposal is withdrawn).
    event GovernanceTransferProposed(address indexed current, address indexed next);
    /// @notice Emitted when the governance role passes to a new address (at deployment and on acceptance).
    event GovernanceTransferred(address indexed previous, address indexed next);
    /// @notice Emitted when governance replaces the guardian.
    event GuardianChanged(address indexed previous, address indexed next);

    /// @notice The caller is not governance.
    error NotGovernance(address caller);
    /// @notice The caller is neither the guardian nor governance.
    error NotGuardian(address caller);
    /// @notice The caller is not the proposed successor of governance.
    error NotPendingGovernance(address caller);
    /// @notice A zero address was given where a party is required.
    error ZeroAddress();

    modifier onlyGovernance() {
        _onlyGovernance();
        _;
    }

    /// @dev Governance can always do what the guardian can.
    modifier onlyGuardian() {
        _onlyGuardian();
        _;
    }

    // The modifiers' checks live in functions: each guarded function would otherwise carry its own copy.
    function _onlyGovernance() internal view {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
    }

    function _onlyGuardian() internal view {
        if (msg.sender != guardian && msg.sender != governance) revert NotGuardian(msg.sender);
    }

    constructor(address governance_, address guardian_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        guardian = guardian_;
        emit GovernanceTransferred(address(0), governance_);
        emit GuardianChanged(address(0), guardian_);
    }

    /// @notice Propose `next` (for example a new timelock) as governance; the role passes only when
    ///         `next` calls `acceptGovernance`. A new proposal replaces the pending one.
    /// @dev Two steps: an address that cannot call (a typo, a contract without the call) never gets the
    ///      role, and governance keeps it meanwhile. The role itself can never be dropped.
    /// @param next The proposed governance address; zero withdraws the pending proposal.
    function transferGovernance(address next) external onlyGovernance {
        pendingGovernance = next;
        emit GovernanceTransferProposed(governance, next);
    }

    /// @notice Take the governance role; only the address governance proposed may call this.
    function acceptGovernance() external {
        address next = pendingGovernance;
        // With no proposal (zero) nobody accepts, whatever the chain lets call from the zero address.
        if (next == address(0) || msg.sender != next) revert NotPendingGovernance(msg.sender);
        emit GovernanceTransferred(governance, next);
        governance = next;
        pendingGovernance = address(0);
    }

    /// @notice Replace the guardian; zero removes the guardian's powers altogether.
    /// @param next The new guardian address.
    function setGuardian(address next) external onlyGovernance {
        emit GuardianChanged(guardian, next);
        guardian = next;
    }
}
