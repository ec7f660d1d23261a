// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {PauseOps} from "../guards/PauseOps.sol";
import {HeldPause} from "../guards/HeldPause.sol";
import {ScopedPause} from "../guards/ScopedPause.sol";
import {TxInvariantGuard} from "../guards/TxInvariantGuard.sol";
import {ClearingEngine} from "./ClearingEngine.sol";
import {Vault} from "./Vault.sol";
import {IOracleGuard} from "../interfaces/IProtocolGuards.sol";

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
    using TransientSlot for *;

    bytes32 public constant INV_SOLVENCY = "vault-solvency";
    uint256 public constant MIN_TX_OUTFLOW_BPS = 100;
    /// @notice Ops whose pause stops owners from reacting to a falling margin (top up or close): only a
    ///         pause of one of them earns a liquidation grace. The guardian can pause neither.
    uint32 public constant REACT_OPS = (uint32(1) << PauseOps.CLOSE) | (uint32(1) << PauseOps.ADD_COLLATERAL);
    // keccak256("bastion.Router.actingAccount"): the account a deposit is pulled from, during the call.
    bytes32 private constant ACTING_SLOT = 0xd5cbb33f8271a776a9f2156f4cc6415ebf66e2021801307194dad50db2795739;
    // Transient snapshot keys: the vault's balance at the transaction's first guarded entry, and its flag.
    uint256 private constant SNAP_START_BALANCE = 0;
    uint256 private constant SNAP_TAKEN = 1;

    ClearingEngine public immutable engine;
    Vault public immutable vault;
    IERC20 public immutable collateral;
    /// @notice Largest share of the vault's balance one transaction may take out.
    uint256 public maxTxOutflowBps;
    /// @notice Price (1e18) of market `index` when the current or last pause of REACT_OPS covering it began.
    mapping(uint256 index => uint256) public reactPauseStartPrice;

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
        ACTING_SLOT.asAddress().tstore(msg.sender);
        engine.deposit(msg.sender, amount);
        ACTING_SLOT.asAddress().tstore(address(0));
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
    /// @dev LIQUIDATE is checked in the scope of every market the account is in (and ALL_MARKETS).
    ///      Grace: while a pause of REACT_OPS (close, add collateral) covers one of the account's markets,
    ///      and for `liquidationGrace` after it ends, the owner could not react, so the liquidation waits,
    ///      unless the account was already below maintenance at the prices of that pause's start (it was
    ///      unsafe before the pause) or its equity is negative now (bad debt would grow). Pauses of other
    ///      ops (every guardian pause) never delay a liquidation.
    function liquidate(address account) external nonReentrant invariantGuarded {
        int256[] memory sizes = engine.sizesOf(account);
        uint256[] memory startPrices = new uint256[](sizes.length);
        uint256 graceEnds;
        uint256 graceIndex;
        bool any;
        for (uint256 i; i < sizes.length; ++i) {
            if (sizes[i] == 0) continue;
            any = true;
            _requireNotPaused(PauseOps.LIQUIDATE, i + 1);
            uint256 end = _reactPauseEnd(i);
            if (end != 0 && block.timestamp < end + _liquidationGrace()) {
                graceEnds = end + _liquidationGrace();
                graceIndex = i;
                startPrices[i] = reactPauseStartPrice[i];
            }
        }
        if (!any) _requireNotPaused(PauseOps.LIQUIDATE, PauseOps.ALL_MARKETS);
        if (graceEnds != 0) {
            IOracleGuard oracle = engine.oracle();
            for (uint256 i; i < sizes.length; ++i) {
                if (sizes[i] != 0 && startPrices[i] == 0) (startPrices[i],) = oracle.viewPrice(engine.marketAt(i).id);
            }
            (int256 equityThen, uint256 maintenanceThen,) = engine.healthAt(account, startPrices);
            (int256 equityNow,,) = engine.health(account);
            // A margin requirement in collateral units: far below 2^255.
            // forge-lint: disable-next-line(unsafe-typecast)
            if (equityNow >= 0 && equityThen >= int256(maintenanceThen)) {
                revert LiquidationGrace(engine.marketAt(graceIndex).id, graceEnds);
            }
        }
        engine.liquidate(account, msg.sender);
    }

    /// @notice Add `amount` to the insurance fund (approve the vault first).
    function fundInsurance(uint256 amount) external nonReentrant invariantGuarded {
        _requireNotPaused(PauseOps.DEPOSIT, PauseOps.ALL_MARKETS);
        ACTING_SLOT.asAddress().tstore(msg.sender);
        engine.fundInsurance(msg.sender, amount);
        ACTING_SLOT.asAddress().tstore(address(0));
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

    /// @notice The account whose tokens the vault may pull now (set only during `deposit`/`fundInsurance`).
    function actingAccount() external view returns (address) {
        return ACTING_SLOT.asAddress().tload();
    }

    /// @notice The pause scope of `market`: its index + 1 (0 is every market).
    function pauseScopeOf(bytes32 market) external view returns (uint256) {
        return _scopeOf(market);
    }

    // ------------------------------------------------------------------------------------------ invariants

    /// @dev Once per TRANSACTION (audit F2): the outflow bound compares with the vault's balance at the
    ///      transaction's first guarded entry, so splitting a drain into several calls does not help.
    function _snapshotInvariants() internal override {
        if (_tsnapshotOf(SNAP_TAKEN) != 0) return;
        _tsnapshot(SNAP_START_BALANCE, collateral.balanceOf(address(vault)));
        _tsnapshot(SNAP_TAKEN, 1);
    }

    function _checkInvariants() internal view override {
        uint256 start = _tsnapshotOf(SNAP_START_BALANCE);
        uint256 end = collateral.balanceOf(address(vault));
        if (end < start) {
            uint256 maxOut = (start * maxTxOutflowBps) / 10_000;
            _requireInvariant(start - end <= maxOut, "tx-outflow");
        }
        int256 owed = engine.obligations();
        _requireInvariant(owed <= int256(vault.freeBalance()), INV_SOLVENCY);
    }

    /// @dev Record the prices at the start of a pause of REACT_OPS, for each market it covers that is not
    ///      already under one (the earliest start is the one that counts).
    function _beforePause(uint256 scope, uint32 ops, Scope memory) internal override {
        if (ops & REACT_OPS == 0) return;
        IOracleGuard oracle = engine.oracle();
        uint256 n = engine.marketCount();
        for (uint256 i; i < n; ++i) {
            if (scope != PauseOps.ALL_MARKETS && scope != i + 1) continue;
            if (_reactPauseEnd(i) > block.timestamp) continue;
            // A failing read must never stop governance from pausing: 0 means "price it now" in `liquidate`.
            try oracle.viewPrice(engine.marketAt(i).id) returns (uint256 price, bool) {
                reactPauseStartPrice[i] = price;
            } catch {
                reactPauseStartPrice[i] = 0;
            }
        }
    }

    /// @dev End of the current or last pause of REACT_OPS covering market `index` (0 if none is recorded).
    function _reactPauseEnd(uint256 index) internal view returns (uint256 end) {
        Scope memory s = this.scopeOf(index + 1);
        if (s.ops & REACT_OPS != 0) end = s.pausedUntil;
        s = this.scopeOf(PauseOps.ALL_MARKETS);
        if (s.ops & REACT_OPS != 0 && s.pausedUntil > end) end = s.pausedUntil;
    }

    function _liquidationGrace() internal view returns (uint256 grace) {
        (,, grace) = this.pauseParams();
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
