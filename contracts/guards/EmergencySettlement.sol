// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {GuardAccess} from "./GuardAccess.sol";

/// @title EmergencySettlement
/// @notice Global settlement for a protocol that must wind down: one trigger freezes prices and stops
///         all new activity; then every user takes their pro-rata share in ONE call.
///         Who triggers: governance, the emergency council, or ANYONE while `_isInsolvent()` is true.
///         At the trigger the pool (`_settlementPool()`) and the sum of all claims (`_totalClaims()`)
///         are recorded; each claim pays `claim * min(1, pool / totalClaims)`, rounded down. Payouts
///         can never sum to more than the pool: the contract itself refuses raw claims beyond the
///         recorded total, and each account claims once.
/// @dev Inherit it, guard every state-changing entry point with `whenNotSettled`, and implement the
///      hooks. Claims must be computed from frozen state (nothing moves after settlement), so
///      `_claimOf` summed over all users must not exceed `_totalClaims()`; if a buggy hook breaks that,
///      the late claims revert instead of paying from others' shares. Any surplus (pool > claims) stays
///      in the protocol for governance. The protocol inherits GuardAccess once and passes its
///      constructor arguments.
abstract contract EmergencySettlement is GuardAccess {
    /// @notice Who triggered the settlement.
    enum Trigger {
        Governance,
        Council,
        Insolvency
    }

    /// @notice The emergency council: may trigger settlement (and nothing else). Zero for none.
    address public settlementCouncil;
    /// @notice True once settlement is triggered; irreversible.
    bool public settled;
    /// @notice When settlement was triggered.
    uint40 public settledAt;
    /// @notice Assets available to claimants, recorded at the trigger.
    uint256 public settlementPool;
    /// @notice Sum of all claims, recorded at the trigger.
    uint256 public totalClaims;
    /// @notice Sum of the raw claims already settled.
    uint256 public claimedTotal;
    /// @notice Sum of the payouts already made.
    uint256 public paidTotal;
    /// @notice Whether `account` has claimed.
    mapping(address account => bool) public hasClaimed;
    mapping(bytes32 market => uint256) private _frozenPrices;

    /// @notice Settlement was triggered; `pool` and `claims` fix every payout.
    event SettlementTriggered(address indexed by, Trigger reason, uint256 pool, uint256 claims);
    /// @notice `account` claimed `claim` and was paid `payout`.
    event SettlementClaimed(address indexed account, uint256 claim, uint256 payout);
    /// @notice The settlement price of `market` was frozen.
    event PriceFrozen(bytes32 indexed market, uint256 price);
    /// @notice Governance replaced the emergency council.
    event SettlementCouncilChanged(address indexed previous, address indexed next);

    /// @notice The protocol is settled: only claims are open.
    error ProtocolSettled();
    /// @notice Settlement has not been triggered.
    error NotSettled();
    /// @notice The caller may not trigger settlement (not governance or council, and not insolvent).
    error NotAllowedToSettle(address caller);
    /// @notice `account` has already claimed.
    error AlreadyClaimed(address account);
    /// @notice `account` has nothing to claim.
    error NothingToClaim(address account);
    /// @notice The protocol's claims exceed the total recorded at the trigger (a hook bug); nothing paid.
    error ClaimsExceedTotal(uint256 claimed, uint256 total);

    /// @dev Guard every state-changing entry point of the protocol with it.
    modifier whenNotSettled() {
        if (settled) revert ProtocolSettled();
        _;
    }

    // ---------------------------------------------------------------- trigger and claim

    /// @notice Trigger global settlement: freeze prices, stop all activity, record pool and claims.
    ///         Governance or the council at any time; anyone while `_isInsolvent()` holds.
    function triggerSettlement() external whenNotSettled {
        Trigger reason;
        if (msg.sender == governance) {
            reason = Trigger.Governance;
        } else if (msg.sender == settlementCouncil && msg.sender != address(0)) {
            reason = Trigger.Council;
        } else if (_isInsolvent()) {
            reason = Trigger.Insolvency;
        } else {
            revert NotAllowedToSettle(msg.sender);
        }
        settled = true;
        settledAt = uint40(block.timestamp);
        _freezePrices(); // claims below are computed at the frozen prices
        uint256 pool = _settlementPool();
        uint256 claims = _totalClaims();
        settlementPool = pool;
        totalClaims = claims;
        emit SettlementTriggered(msg.sender, reason, pool, claims);
    }

    /// @notice Take your whole settlement payout in one call.
    /// @return payout The amount paid to the caller.
    function claimSettlement() external returns (uint256 payout) {
        if (!settled) revert NotSettled();
        if (hasClaimed[msg.sender]) revert AlreadyClaimed(msg.sender);
        uint256 claim = _claimOf(msg.sender);
        if (claim == 0) revert NothingToClaim(msg.sender);
        uint256 claimed = claimedTotal + claim;
        if (claimed > totalClaims) revert ClaimsExceedTotal(claimed, totalClaims);
        payout = _payoutFor(claim);
        hasClaimed[msg.sender] = true;
        claimedTotal = claimed;
        paidTotal += payout;
        emit SettlementClaimed(msg.sender, claim, payout);
        _payout(msg.sender, payout); // effects first: a reentrant claim finds hasClaimed set
    }

    /// @notice Governance: set the emergency council (zero removes it).
    /// @param next The new council.
    function setSettlementCouncil(address next) external onlyGovernance {
        emit SettlementCouncilChanged(settlementCouncil, next);
        settlementCouncil = next;
    }

    // ---------------------------------------------------------------- views

    /// @notice What `account` would be paid now (0 before settlement or after its claim).
    /// @param account The claimant.
    /// @return claim The raw claim.
    /// @return payout The payout after the pro-rata haircut.
    function settlementPayoutOf(address account) external view returns (uint256 claim, uint256 payout) {
        if (!settled || hasClaimed[account]) return (0, 0);
        claim = _claimOf(account);
        return (claim, _payoutFor(claim));
    }

    /// @notice The frozen settlement price of `market` (0 if none was frozen).
    /// @param market The market id.
    function frozenPrice(bytes32 market) public view returns (uint256) {
        return _frozenPrices[market];
    }

    // ---------------------------------------------------------------- hooks

    /// @dev Record the settlement prices with `_freezePrice`; runs once, at the trigger, before the
    ///      pool and claims are measured.
    function _freezePrices() internal virtual {}

    /// @dev Assets available to claimants at the trigger (for example the vault's token balance).
    function _settlementPool() internal view virtual returns (uint256);

    /// @dev Sum of every account's claim at the frozen prices.
    function _totalClaims() internal view virtual returns (uint256);

    /// @dev One account's claim at the frozen prices; must not change after settlement.
    function _claimOf(address account) internal view virtual returns (uint256);

    /// @dev Send `amount` to `to` (for example an ERC-20 transfer).
    function _payout(address to, uint256 amount) internal virtual;

    /// @dev True when anyone may trigger settlement. Must not be manipulable within one transaction
    ///      (read stored accounting, not spot prices). Default: never.
    function _isInsolvent() internal view virtual returns (bool) {
        return false;
    }

    /// @dev Helper for `_freezePrices`.
    function _freezePrice(bytes32 market, uint256 price) internal {
        _frozenPrices[market] = price;
        emit PriceFrozen(market, price);
    }

    function _payoutFor(uint256 claim) private view returns (uint256) {
        uint256 pool = settlementPool;
        uint256 claims = totalClaims;
        return pool >= claims ? claim : Math.mulDiv(claim, pool, claims);
    }
}
