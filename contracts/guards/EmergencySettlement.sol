// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {GuardAccess} from "./GuardAccess.sol";

/// @title EmergencySettlement
/// @notice Global settlement for a protocol that must wind down: one trigger freezes prices and stops
///         all new activity; then every user takes their pro-rata share in ONE call.
///         Who triggers: governance, the emergency council, or ANYONE while `_isInsolvent()` is true.
///         At the trigger the pool (`_settlementPool()`) is recorded. The sum of all claims is either
///         known at once (`_totalClaims()`, O(1) protocols) or, in TALLY mode (`_needsTally()`), built by
///         anyone calling `tally(accounts)` in batches until every account's claim is recorded; claims
///         open only then, so the factor min(1, pool / totalClaims) is final and the same for everyone.
///         Each claim pays `claim * min(1, pool / totalClaims)`, rounded down. Payouts can never sum to
///         more than the pool: the contract refuses raw claims beyond the recorded total, and each
///         account claims once.
/// @dev Inherit it, guard every state-changing entry point with `whenNotSettled`, and implement the
///      hooks. Claims must be computed from frozen state (nothing moves after settlement), so
///      `_claimOf` summed over all users must not exceed `_totalClaims()`; if a buggy hook breaks that,
///      the late claims revert instead of paying from others' shares. Any surplus (pool > claims) stays
///      in the protocol for governance. The protocol inherits GuardAccess once and passes its
///      constructor arguments. `settled` and `settledAt` are declared last, so the derived contract's
///      first small state variable can share their slot (a warm read in the hot path's check).
abstract contract EmergencySettlement is GuardAccess {
    using SafeCast for uint256;

    /// @notice Who triggered the settlement.
    enum Trigger {
        Governance,
        Council,
        Insolvency
    }

    /// @dev Per-account settlement state, one slot.
    struct Claimant {
        uint240 claim; // tally mode: the claim recorded by `tally`
        bool tallied;
        bool claimed;
    }

    /// @notice The emergency council: may trigger settlement (and nothing else). Zero for none.
    address public settlementCouncil;
    /// @notice Assets available to claimants, recorded at the trigger.
    uint256 public settlementPool;
    /// @notice Sum of all claims: recorded at the trigger, or (tally mode) summed by `tally`.
    uint256 public totalClaims;
    /// @notice Sum of the raw claims already settled.
    uint256 public claimedTotal;
    /// @notice Sum of the payouts already made.
    uint256 public paidTotal;
    /// @notice Tally mode: the number of accounts to tally, recorded at the trigger.
    uint128 public claimantCount;
    /// @notice Tally mode: the number of accounts tallied so far.
    uint128 public talliedAccounts;
    mapping(address account => Claimant) private _claimants;
    mapping(bytes32 market => uint256) private _frozenPrices;
    /// @notice True once settlement is triggered; irreversible.
    bool public settled;
    /// @notice When settlement was triggered.
    uint40 public settledAt;

    /// @notice Settlement was triggered; `pool` and (unless tallied) `claims` fix every payout.
    event SettlementTriggered(address indexed by, Trigger reason, uint256 pool, uint256 claims);
    /// @notice Tally mode: `account`'s claim was recorded.
    event AccountTallied(address indexed account, uint256 claim);
    /// @notice Claims are open: `pool` and `claims` are final.
    event ClaimsOpened(uint256 pool, uint256 claims);
    /// @notice `account` claimed `claim` and was paid `payout`.
    event SettlementClaimed(address indexed account, uint256 claim, uint256 payout);
    /// @notice The settlement price of `market` was frozen.
    event PriceFrozen(bytes32 indexed market, uint256 price);
    /// @notice The emergency council was replaced.
    event SettlementCouncilChanged(address indexed previous, address indexed next);

    /// @notice The protocol is settled: only tallies and claims are open.
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
    /// @notice Tally mode: claims open once all `accounts` are tallied; `tallied` are so far.
    error TallyIncomplete(uint256 tallied, uint256 accounts);
    /// @notice The protocol knows its total claims at the trigger: there is nothing to tally.
    error TallyNotNeeded();
    /// @notice Tally mode is enabled but the protocol lacks the account hooks.
    error TallyHooksMissing();

    /// @dev Guard every state-changing entry point of the protocol with it.
    modifier whenNotSettled() {
        _whenNotSettled();
        _;
    }

    /// @dev The modifier's check in one place (every guarded entry point would otherwise carry a copy).
    function _whenNotSettled() internal view {
        if (settled) revert ProtocolSettled();
    }

    // ---------------------------------------------------------------- trigger, tally and claim

    /// @notice Trigger global settlement: freeze prices, stop all activity, record the pool (and the
    ///         total of claims, unless the protocol tallies them). Governance or the council at any time;
    ///         anyone while `_isInsolvent()` holds.
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
        settlementPool = pool;
        bool tallying = _needsTally();
        uint256 claims;
        uint256 accounts;
        if (tallying) {
            accounts = _claimantCount(); // fixed: no entry point can add an account any more
            claimantCount = accounts.toUint128();
        } else {
            claims = _totalClaims();
            totalClaims = claims;
        }
        emit SettlementTriggered(msg.sender, reason, pool, claims);
        if (accounts == 0) emit ClaimsOpened(pool, claims);
    }

    /// @notice Tally mode: record the claims of `accounts` (anyone may call, in batches of any size).
    ///         Accounts already tallied, and addresses that are not accounts of the protocol, are skipped,
    ///         so batches may overlap. Claims open when the last account is tallied.
    /// @param accounts Accounts of the protocol (see the protocol's enumeration).
    /// @return added The number of accounts newly tallied by this call.
    function tally(address[] calldata accounts) external returns (uint256 added) {
        if (!settled) revert NotSettled();
        if (!_needsTally()) revert TallyNotNeeded();
        uint256 sum;
        for (uint256 k; k < accounts.length; ++k) {
            address account = accounts[k];
            Claimant storage c = _claimants[account];
            if (c.tallied || !_isClaimant(account)) continue;
            uint256 claim = _claimOf(account);
            c.claim = claim.toUint240();
            c.tallied = true;
            sum += claim;
            ++added;
            emit AccountTallied(account, claim);
        }
        if (added == 0) return 0;
        uint256 claims = totalClaims + sum;
        totalClaims = claims;
        uint256 all = claimantCount;
        uint256 done = talliedAccounts + added;
        talliedAccounts = done.toUint128();
        if (done >= all && done - added < all) emit ClaimsOpened(settlementPool, claims); // the last batch
    }

    /// @notice Take your whole settlement payout in one call.
    /// @return payout The amount paid to the caller.
    function claimSettlement() external returns (uint256 payout) {
        return _claimSettlement(msg.sender);
    }

    /// @notice Governance: set the emergency council (zero removes it).
    /// @param next The new council.
    function setSettlementCouncil(address next) external onlyGovernance {
        _setSettlementCouncil(next);
    }

    // ---------------------------------------------------------------- views

    /// @notice True once claims can be made: settled and, in tally mode, every account tallied.
    function claimsOpen() public view returns (bool) {
        return settled && talliedAccounts >= claimantCount;
    }

    /// @notice What `account` would be paid now (0 before settlement, after its claim, and in tally mode
    ///         as long as claims are not open).
    /// @param account The claimant.
    /// @return claim The raw claim (in tally mode, the recorded one once tallied).
    /// @return payout The payout after the pro-rata haircut.
    function settlementPayoutOf(address account) external view returns (uint256 claim, uint256 payout) {
        Claimant memory c = _claimants[account];
        if (!settled || c.claimed) return (0, 0);
        bool open = claimsOpen();
        // Tally mode pays the recorded claim (0 for a non-account); before the tally, preview the hook's.
        claim = _needsTally() && (c.tallied || open) ? c.claim : _claimOf(account);
        payout = open ? _payoutFor(claim) : 0;
    }

    /// @notice Whether `account` has claimed.
    /// @param account The claimant.
    function hasClaimed(address account) external view returns (bool) {
        return _claimants[account].claimed;
    }

    /// @notice Tally mode: whether `account`'s claim is recorded.
    /// @param account The account.
    function isTallied(address account) external view returns (bool) {
        return _claimants[account].tallied;
    }

    /// @notice The frozen settlement price of `market` (0 if none was frozen).
    /// @param market The market id.
    function frozenPrice(bytes32 market) public view returns (uint256) {
        return _frozenPrices[market];
    }

    // ---------------------------------------------------------------- for the protocol

    /// @dev Pay `account` its share, once. `claimSettlement` uses it for the caller; a protocol may also
    ///      expose it to its own user entry (a router) acting for `account`. The payout always goes to
    ///      `account` itself.
    function _claimSettlement(address account) internal returns (uint256 payout) {
        if (!settled) revert NotSettled();
        Claimant storage c = _claimants[account];
        if (c.claimed) revert AlreadyClaimed(account);
        uint256 claim;
        if (_needsTally()) {
            (uint256 done, uint256 all) = (talliedAccounts, claimantCount);
            if (done < all) revert TallyIncomplete(done, all);
            claim = c.claim;
        } else {
            claim = _claimOf(account);
        }
        if (claim == 0) revert NothingToClaim(account);
        uint256 claimed = claimedTotal + claim;
        if (claimed > totalClaims) revert ClaimsExceedTotal(claimed, totalClaims);
        payout = _payoutFor(claim);
        c.claimed = true;
        claimedTotal = claimed;
        paidTotal += payout;
        emit SettlementClaimed(account, claim, payout);
        _payout(account, payout); // effects first: a reentrant claim finds `claimed` set
    }

    /// @dev Set the emergency council (also for a protocol's constructor).
    function _setSettlementCouncil(address next) internal {
        emit SettlementCouncilChanged(settlementCouncil, next);
        settlementCouncil = next;
    }

    /// @dev Helper for `_freezePrices`.
    function _freezePrice(bytes32 market, uint256 price) internal {
        _frozenPrices[market] = price;
        emit PriceFrozen(market, price);
    }

    // ---------------------------------------------------------------- hooks

    /// @dev Record the settlement prices with `_freezePrice`; runs once, at the trigger, before the
    ///      pool and claims are measured.
    function _freezePrices() internal virtual {}

    /// @dev Assets available to claimants at the trigger (for example the vault's token balance).
    function _settlementPool() internal view virtual returns (uint256);

    /// @dev Sum of every account's claim at the frozen prices (O(1), from stored aggregates). Not called
    ///      in tally mode.
    function _totalClaims() internal view virtual returns (uint256);

    /// @dev One account's claim at the frozen prices; must not change after settlement. In tally mode it
    ///      is read once per account, by `tally`.
    function _claimOf(address account) internal view virtual returns (uint256);

    /// @dev Send `amount` to `to` (for example an ERC-20 transfer).
    function _payout(address to, uint256 amount) internal virtual;

    /// @dev True when anyone may trigger settlement. Must not be manipulable within one transaction
    ///      (read stored accounting, not spot prices). Default: never.
    function _isInsolvent() internal view virtual returns (bool) {
        return false;
    }

    /// @dev True when the total of claims is not known at the trigger and accounts must be tallied one
    ///      by one (then implement `_claimantCount` and `_isClaimant`). Default: false.
    function _needsTally() internal view virtual returns (bool) {
        return false;
    }

    /// @dev Tally mode: how many accounts hold a claim (read once, at the trigger; it must not grow
    ///      after settlement). Every one must be tallied before claims open. Without tally mode there is
    ///      nothing to tally; with it, the protocol must override this (the default reverts loudly).
    function _claimantCount() internal view virtual returns (uint256) {
        if (!_needsTally()) return 0;
        revert TallyHooksMissing();
    }

    /// @dev Tally mode: whether `account` is one of the `_claimantCount()` accounts. Only these count
    ///      towards the tally, so nobody can open claims by tallying strangers. Must be overridden in tally
    ///      mode (the default reverts loudly).
    function _isClaimant(address) internal view virtual returns (bool) {
        if (!_needsTally()) return false;
        revert TallyHooksMissing();
    }

    function _payoutFor(uint256 claim) private view returns (uint256) {
        uint256 pool = settlementPool;
        uint256 claims = totalClaims;
        return pool >= claims ? claim : Math.mulDiv(claim, pool, claims);
    }
}
