// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {PauseOps} from "../guards/PauseOps.sol";
import {HeldPause} from "../guards/HeldPause.sol";
import {ScopedPause} from "../guards/ScopedPause.sol";
import {TxInvariantGuard} from "../guards/TxInvariantGuard.sol";
import {ClearingEngine} from "./ClearingEngine.sol";
import {Vault} from "./Vault.sol";

/// @title Router
/// @notice The user-facing entry of the reference clearinghouse. It classifies each call (new risk or
///         exit), applies the scoped pause, and wraps every state-changing entry in the transaction
///         invariant guard: at the end of the outermost call the vault must hold at least what the books
///         owe (Σ collateral + insurance fund + fees), and no single transaction may take more than
///         `maxTxOutflowBps` of the vault's balance. A violation reverts the whole transaction.
/// @dev Pause scopes: market index + 1 for per-market ops (OPEN, CLOSE, LIQUIDATE); ALL_MARKETS for
///      DEPOSIT, ADD_COLLATERAL and WITHDRAW. A deposit by an account with open positions counts as
///      ADD_COLLATERAL, which the guardian can never pause; a first deposit counts as DEPOSIT.
contract Router is HeldPause, TxInvariantGuard, ReentrancyGuardTransient {
    bytes32 public constant INV_SOLVENCY = "vault-solvency";
    uint256 public constant MIN_TX_OUTFLOW_BPS = 100;

    ClearingEngine public immutable engine;
    Vault public immutable vault;
    IERC20 public immutable collateral;
    /// @notice Largest share of the vault's balance one transaction may take out.
    uint256 public maxTxOutflowBps;

    /// @notice Governance changed the per-transaction outflow bound.
    event MaxTxOutflowSet(uint256 bps);

    /// @notice A liquidation waits while owners top up after a pause of the market ended.
    error LiquidationGrace(bytes32 market, uint256 until);
    error InvalidBps(uint256 bps);

    /// @param governance_ The timelock.
    /// @param guardian_ The guardian (Safe or watchtower key), bounded by ScopedPause.
    /// @param engine_ The clearing engine.
    /// @param maxTxOutflowBps_ Per-transaction outflow bound, in [100, 10_000] bps.
    constructor(address governance_, address guardian_, ClearingEngine engine_, uint256 maxTxOutflowBps_)
        GuardAccess(governance_, guardian_)
        ScopedPause(24 hours, 48 hours, 4 hours)
    {
        engine = engine_;
        vault = Vault(address(engine_.vault()));
        collateral = vault.asset();
        _setMaxTxOutflow(maxTxOutflowBps_);
    }

    // ------------------------------------------------------------------------------------------ users

    /// @notice Deposit `amount` of collateral (approve the vault first).
    function deposit(uint256 amount) external nonReentrant invariantGuarded {
        _requireNotPaused(_hasPositions(msg.sender) ? PauseOps.ADD_COLLATERAL : PauseOps.DEPOSIT, PauseOps.ALL_MARKETS);
        engine.deposit(msg.sender, amount);
    }

    /// @notice Withdraw `amount` of free collateral. Returns false when the outflow limiter queued it as a
    ///         claim on the vault (collect it with `vault.claimLockedFunds` after the trip clears).
    function withdraw(uint256 amount) external nonReentrant invariantGuarded returns (bool paidNow) {
        _requireNotPaused(PauseOps.WITHDRAW, PauseOps.ALL_MARKETS);
        return engine.withdraw(msg.sender, amount);
    }

    /// @notice Buy (`delta` > 0) or sell `delta` units (1e18) of `market` at the oracle price.
    /// @param priceLimit Worst acceptable price (max for buys, min for sells); 0 for none.
    function trade(bytes32 market, int256 delta, uint256 priceLimit) external nonReentrant invariantGuarded {
        uint256 index = engine.marketIndexOf(market);
        int256 size = engine.sizesOf(msg.sender)[index];
        bool reduces = size != 0 && (size > 0) != (delta > 0) && _abs(delta) <= _abs(size);
        _requireNotPaused(reduces ? PauseOps.CLOSE : PauseOps.OPEN, index + 1);
        engine.trade(msg.sender, market, delta, priceLimit);
    }

    /// @notice Close the whole position in `market` (an exit: never pausable by the guardian).
    function close(bytes32 market) external nonReentrant invariantGuarded {
        uint256 index = engine.marketIndexOf(market);
        _requireNotPaused(PauseOps.CLOSE, index + 1);
        int256 size = engine.sizesOf(msg.sender)[index];
        engine.trade(msg.sender, market, -size, 0);
    }

    /// @notice Liquidate `account` (below maintenance margin); the caller earns part of the penalty.
    /// @dev After a pause of one of the account's markets ends, liquidations wait for the grace period so
    ///      owners can top up, unless the account's equity is already negative (bad debt would grow).
    function liquidate(address account) external nonReentrant invariantGuarded {
        _requireNotPaused(PauseOps.LIQUIDATE, PauseOps.ALL_MARKETS);
        int256[] memory sizes = engine.sizesOf(account);
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] == 0) continue;
            uint256 graceEnds = this.liquidationGraceEnds(i + 1);
            if (block.timestamp < graceEnds) {
                (int256 equity,,) = engine.health(account);
                if (equity >= 0) revert LiquidationGrace(engine.marketAt(i).id, graceEnds);
            }
        }
        engine.liquidate(account, msg.sender);
    }

    /// @notice Add `amount` to the insurance fund (approve the vault first).
    function fundInsurance(uint256 amount) external nonReentrant invariantGuarded {
        _requireNotPaused(PauseOps.DEPOSIT, PauseOps.ALL_MARKETS);
        engine.fundInsurance(msg.sender, amount);
    }

    /// @notice After global settlement (once every account is tallied: `engine.tally`), take your pro-rata
    ///         share in one call. The engine pays it to the caller; `engine.claimSettlement()` is the same.
    /// @return The amount paid.
    function claimSettlement() external nonReentrant returns (uint256) {
        return engine.claimSettlementFor(msg.sender);
    }

    // ------------------------------------------------------------------------------------------ governance

    /// @notice Set the per-transaction outflow bound.
    /// @param bps In [100, 10_000].
    function setMaxTxOutflow(uint256 bps) external onlyGovernance {
        _setMaxTxOutflow(bps);
    }

    /// @notice The pause scope of `market`: its index + 1 (0 is every market).
    function pauseScopeOf(bytes32 market) external view returns (uint256) {
        return _scopeOf(market);
    }

    // ------------------------------------------------------------------------------------------ invariants

    function _snapshotInvariants() internal override {
        _tsnapshot(0, collateral.balanceOf(address(vault)));
    }

    function _checkInvariants() internal view override {
        uint256 start = _tsnapshotOf(0);
        uint256 end = collateral.balanceOf(address(vault));
        if (end < start) {
            uint256 maxOut = (start * maxTxOutflowBps) / 10_000;
            _requireInvariant(start - end <= maxOut, "tx-outflow");
        }
        int256 owed = engine.obligations();
        _requireInvariant(owed <= int256(vault.freeBalance()), INV_SOLVENCY);
    }

    function _setMaxTxOutflow(uint256 bps) internal {
        if (bps < MIN_TX_OUTFLOW_BPS || bps > 10_000) revert InvalidBps(bps);
        maxTxOutflowBps = bps;
        emit MaxTxOutflowSet(bps);
    }

    function _scopeOf(bytes32 market) internal view returns (uint256) {
        return engine.marketIndexOf(market) + 1;
    }

    function _hasPositions(address account) internal view returns (bool) {
        int256[] memory sizes = engine.sizesOf(account);
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] != 0) return true;
        }
        return false;
    }

    function _abs(int256 x) private pure returns (uint256) {
        return uint256(x >= 0 ? x : -x);
    }
}
