// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {OutflowLimiter} from "../guards/OutflowLimiter.sol";
import {PauseOps} from "../guards/PauseOps.sol";
import {ICollateralVault} from "../interfaces/IProtocolGuards.sol";

/// @dev What the Vault reads of its engine: the Router it serves and the settlement it pays out.
interface IVaultEngine {
    function router() external view returns (address);
    function settled() external view returns (bool);
    function settlementPool() external view returns (uint256);
}

/// @dev What the Vault reads of the Router: the account on whose behalf it is depositing now.
interface IActingRouter {
    function actingAccount() external view returns (address);
}

/// @notice The pause the vault's claims obey (the Router's ScopedPause).
interface IPauseView {
    function isPaused(uint8 op, uint256 market) external view returns (bool);
}

/// @notice Where voided claims are booked (the engine's insurance fund), and the engine's incident profit.
interface IVoidedClaimsSink {
    function absorbVoidedClaims(uint256 amount, bytes32 reportHash) external;
    function voidProfitOf(address account, uint256 from, uint256 to, uint256 cap) external returns (uint256);
}

/// @title Vault
/// @notice Holds the clearinghouse's collateral (one stablecoin) and nothing else: it knows no positions and
///         obeys only the current engine. Every payment goes through the OutflowLimiter, so even a broken or
///         malicious engine can drain at most the limiter's headroom before the breaker trips.
/// @dev Replacing the engine (governance, i.e. the timelock) moves no funds.
contract Vault is ICollateralVault, OutflowLimiter, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The collateral token.
    IERC20 public immutable asset;
    /// @notice The only contract allowed to move funds.
    address public engine;
    /// @notice How long an account's own deposits count toward its own withdrawals (0: off). Shares the
    ///         engine's slot, so the hot paths read it for 100 gas.
    uint32 public ownInflowMemory;
    /// @notice Payments queued by the limiter (DELAYED mode) and not yet claimed.
    uint256 public outstandingClaims;
    /// @notice Settlement shares paid so far; never more than the engine's recorded settlement pool.
    uint256 public settlementPaid;
    /// @notice While this pause has WITHDRAW paused in every market, no claim is paid (zero: none).
    IPauseView public pauseSource;

    /// @notice An account's own inflows (deposits) not yet returned to it, and the time of the latest.
    struct OwnInflow {
        uint128 amount;
        uint64 at;
    }

    /// @notice Longest `ownInflowMemory` governance may set.
    uint256 public constant MAX_OWN_INFLOW_MEMORY = 30 days;
    /// @notice Own inflows per account: withdrawing them back does not use the shared headroom.
    mapping(address => OwnInflow) public ownInflowOf;

    /// @notice Longest incident window whose claims governance may void in one call.
    uint256 public constant MAX_INCIDENT_WINDOW = 3 days;
    /// @notice How long after an incident window ends its claims may still be voided.
    uint256 public constant VOID_DEADLINE = 30 days;

    /// @notice Governance pointed the vault at a new engine.
    event EngineSet(address indexed previous, address indexed next);
    /// @notice A settlement share was paid (outside the limiter: settlement is the orderly exit).
    event SettlementPaid(address indexed to, uint256 amount);

    /// @notice Governance set how long own deposits count toward own withdrawals.
    event OwnInflowMemorySet(uint256 memory_);
    /// @notice Governance set the pause that holds claims.
    event PauseSourceSet(address indexed pauseSource);
    /// @notice Governance voided `total` of claims locked in [`from`, `to`] (report `reportHash`); the
    ///         amount went to the engine's insurance fund.
    event ClaimsVoided(uint256 from, uint256 to, bytes32 indexed reportHash, uint256 total);

    /// @notice Governance voided `amount` of `account`'s profit that took profit inside [`from`, `to`]
    ///         (report `reportHash`); the engine moved it to its insurance fund.
    event ProfitVoided(address indexed account, uint256 amount, uint256 from, uint256 to, bytes32 indexed reportHash);

    /// @notice The caller is not the current engine.
    error NotEngine(address caller);
    /// @notice `pull` may only take from the account the Router is acting for now, not `from`.
    error NotActingAccount(address from);
    /// @notice `accounts` and `caps` differ in length.
    error LengthMismatch(uint256 accounts, uint256 caps);
    /// @notice Incident profit cannot be voided after the engine's settlement (claims are frozen).
    error SettledAlready();
    /// @notice `paySettlement` before the engine's settlement was triggered.
    error NotSettled();
    /// @notice A settlement payout of `amount` would take the total paid past the recorded `pool`.
    error SettlementPoolExceeded(uint256 amount, uint256 paid, uint256 pool);
    /// @notice Claims are held: withdrawals are paused for an incident until `pauseSource` lifts it.
    error ClaimsHeld(address asset);
    /// @notice An incident window that is empty, longer than MAX_INCIDENT_WINDOW, not over, older than
    ///         VOID_DEADLINE, or without a report hash.
    error InvalidIncidentWindow(uint256 from, uint256 to, bytes32 reportHash);

    modifier onlyEngine() {
        if (msg.sender != engine) revert NotEngine(msg.sender);
        _;
    }

    /// @param asset_ The collateral token.
    /// @param governance_ The timelock.
    /// @param guardian_ May extend a limiter trip, within its bound.
    /// @param limiter Outflow limiter parameters for `asset_`.
    constructor(IERC20 asset_, address governance_, address guardian_, AssetConfig memory limiter)
        GuardAccess(governance_, guardian_)
    {
        asset = asset_;
        _registerAsset(address(asset_), limiter, 0);
    }

    /// @notice Point the vault at a new engine (governance, through the timelock).
    /// @param next The new engine.
    function setEngine(address next) external onlyGovernance {
        emit EngineSet(engine, next);
        engine = next;
    }

    /// @notice Hold claims while `source` pauses WITHDRAW in every market (governance, at deployment).
    /// @param source The Router (its ScopedPause); zero to never hold claims.
    function setPauseSource(address source) external onlyGovernance {
        pauseSource = IPauseView(source);
        emit PauseSourceSet(source);
    }

    /// @notice Let each account's own deposits of the last `memory_` seconds come back without using the
    ///         limiter's shared headroom (grief resistance; 0 turns it off). Governance.
    /// @param memory_ Seconds, at most MAX_OWN_INFLOW_MEMORY.
    function setOwnInflowMemory(uint256 memory_) external onlyGovernance {
        if (memory_ > MAX_OWN_INFLOW_MEMORY) revert InvalidLimiterParam("ownInflowMemory", memory_);
        // forge-lint: disable-next-line(unsafe-typecast)
        ownInflowMemory = uint32(memory_);
        emit OwnInflowMemorySet(memory_);
    }

    /// @notice Void the claims of `recipients` locked inside the incident window [`from`, `to`]; a
    ///         recipient without a claim locked in it is skipped. Voided amounts go to the insurance fund.
    /// @dev Governance (the timelock), with the incident report's hash; the window is at most
    ///      MAX_INCIDENT_WINDOW long and must have ended less than VOID_DEADLINE ago.
    function voidClaims(address[] calldata recipients, uint256 from, uint256 to, bytes32 reportHash)
        external
        onlyGovernance
        nonReentrant
    {
        _checkIncidentWindow(from, to, reportHash);
        uint256 total;
        for (uint256 i; i < recipients.length; ++i) {
            total += _voidClaim(address(asset), recipients[i], from, to, reportHash);
        }
        outstandingClaims -= total;
        emit ClaimsVoided(from, to, reportHash, total);
        if (total != 0) IVoidedClaimsSink(engine).absorbVoidedClaims(total, reportHash);
    }

    /// @notice Void up to `caps[i]` of the engine's profit record of `accounts[i]` when that record took
    ///         profit inside the incident window [`from`, `to`] (ClearingEngine.voidProfitOf: at most the
    ///         record and the account's collateral go to the insurance fund); other accounts are skipped.
    ///         A cap lets governance take back only what a flagged price paid (the remedy helper caps each
    ///         account at its gain against the watchtower's reference price).
    /// @dev Governance (the timelock), with the bounds of `voidClaims`. Realised profit stays in one locked
    ///      record while an all-market withdrawal pause runs, so a pause held until this executes keeps it.
    function voidProfit(
        address[] calldata accounts,
        uint256[] calldata caps,
        uint256 from,
        uint256 to,
        bytes32 reportHash
    ) external onlyGovernance nonReentrant {
        _checkIncidentWindow(from, to, reportHash);
        // After settlement every account's claim is frozen: nothing may move it.
        if (IVaultEngine(engine).settled()) revert SettledAlready();
        if (caps.length != accounts.length) revert LengthMismatch(accounts.length, caps.length);
        for (uint256 i; i < accounts.length; ++i) {
            uint256 amount = IVoidedClaimsSink(engine).voidProfitOf(accounts[i], from, to, caps[i]);
            if (amount != 0) emit ProfitVoided(accounts[i], amount, from, to, reportHash);
        }
    }

    /// @notice Put a voided claim of `recipient` back into the limiter's liquidity once the FIFO cursor
    ///         has passed it (anyone may call: it only restores the books).
    /// @return The amount returned.
    function returnVoidedFunds(address a, address recipient) external returns (uint256) {
        return _returnVoidedFunds(a, recipient);
    }

    /// @notice Voided claim of `recipient` on `a` not yet returned to the liquidity, and its position.
    function voidedClaimInfo(address a, address recipient) external view returns (uint256, uint256) {
        return _voidedClaimOf(a, recipient);
    }

    /// @inheritdoc ICollateralVault
    /// @dev Only from the account the engine's Router is serving in this call, so a replaced or buggy
    ///      engine cannot take tokens from anyone else who approved the Vault (audit F3).
    function pull(address from, uint256 amount) external onlyEngine nonReentrant {
        if (from != IActingRouter(IVaultEngine(msg.sender).router()).actingAccount()) revert NotActingAccount(from);
        // `from` is the Router's acting account, checked above (audit F3), not a caller's choice.
        // slither-disable-next-line arbitrary-send-erc20
        asset.safeTransferFrom(from, address(this), amount);
        _onTokenInflow(address(asset), amount);
        uint256 memory_ = ownInflowMemory;
        if (memory_ == 0) return;
        OwnInflow memory o = ownInflowOf[from];
        uint256 kept = block.timestamp < o.at + memory_ ? o.amount : 0;
        // forge-lint: disable-next-line(unsafe-typecast)
        ownInflowOf[from] = OwnInflow(uint128(kept + amount), uint64(block.timestamp)); // < 2^96 liquidity
    }

    /// @inheritdoc ICollateralVault
    function pay(address to, uint256 amount) external onlyEngine nonReentrant returns (bool paidNow) {
        // The part that returns `to`'s own recent deposits takes no shared headroom and never queues.
        uint256 memory_ = ownInflowMemory;
        OwnInflow memory o;
        if (memory_ != 0) o = ownInflowOf[to];
        uint256 own = o.amount != 0 && block.timestamp < o.at + memory_ ? o.amount : 0;
        if (own > amount) own = amount;
        if (own != 0) {
            // forge-lint: disable-next-line(unsafe-typecast)
            ownInflowOf[to].amount = uint128(o.amount - own); // own <= o.amount, itself a uint128
            _onNettedOutflow(address(asset), own);
        }
        paidNow = own == amount || _onTokenOutflow(address(asset), to, amount - own);
        if (paidNow) {
            asset.safeTransfer(to, amount);
        } else {
            if (own != 0) asset.safeTransfer(to, own);
            outstandingClaims += amount - own;
        }
    }

    /// @inheritdoc ICollateralVault
    /// @dev Only after the engine's settlement, and never more in total than the pool it recorded, so the
    ///      limiter bypass cannot move more than settlement owes (audit F3).
    function paySettlement(address to, uint256 amount) external onlyEngine nonReentrant {
        IVaultEngine e = IVaultEngine(msg.sender);
        if (!e.settled()) revert NotSettled();
        uint256 paid = settlementPaid + amount;
        uint256 pool = e.settlementPool();
        if (paid > pool) revert SettlementPoolExceeded(amount, settlementPaid, pool);
        settlementPaid = paid;
        asset.safeTransfer(to, amount);
        emit SettlementPaid(to, amount);
    }

    /// @inheritdoc ICollateralVault
    function freeBalance() external view returns (uint256) {
        return asset.balanceOf(address(this)) - outstandingClaims;
    }

    /// @dev An incident window governance may void: not empty, at most MAX_INCIDENT_WINDOW, over, ended less
    ///      than VOID_DEADLINE ago, with the incident report's hash.
    function _checkIncidentWindow(uint256 from, uint256 to, bytes32 reportHash) internal view {
        if (
            reportHash == bytes32(0) || from > to || to - from > MAX_INCIDENT_WINDOW || to > block.timestamp
                || block.timestamp > to + VOID_DEADLINE
        ) revert InvalidIncidentWindow(from, to, reportHash);
    }

    function _beforeClaimPaid(address a, address) internal view override {
        IPauseView source = pauseSource;
        if (address(source) != address(0) && source.isPaused(PauseOps.WITHDRAW, PauseOps.ALL_MARKETS)) {
            revert ClaimsHeld(a);
        }
    }

    function _payLockedFunds(address, address recipient, uint256 amount) internal override {
        outstandingClaims -= amount;
        asset.safeTransfer(recipient, amount);
    }
}
