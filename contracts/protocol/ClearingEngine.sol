// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";
import {GuardAccess} from "../guards/GuardAccess.sol";
import {EmergencySettlement} from "../guards/EmergencySettlement.sol";
import {ICollateralVault, IOracleGuard, IParameterRegistry} from "../interfaces/IProtocolGuards.sol";
import {PauseOps} from "../guards/PauseOps.sol";
import {PerpMath} from "./PerpMath.sol";

/// @dev What the engine reads of its Router's pause.
interface IWithdrawPause {
    function isPaused(uint8 op, uint256 market) external view returns (bool);
}

/// @title ClearingEngine
/// @notice The position math of Bastion's reference perpetual-futures clearinghouse: cross margin per
///         account, several oracle-priced markets, funding from the skew, fees, liquidation, insurance fund,
///         and global settlement. It holds no tokens: the Vault does, and obeys only the current engine.
/// @dev Every trade is matched against a designated backstop `maker` account at the oracle price, so the
///      book is zero-sum: the sum of all unrealized PnL is zero and the vault identity
///      `tokens held == Σ collateral + insurance fund + fees` holds exactly up to rounding, which always
///      favours the protocol. Bad debt is covered by the insurance fund, then charged to the maker (the
///      backstop liquidity provider); if the maker itself goes under, anyone may trigger settlement.
///      Only the Router may call the state-changing entry points; it passes the acting account.
///      Settlement is the EmergencySettlement guard in tally mode: an account's claim (its equity at the
///      frozen prices) is not known in O(1), so every account is tallied before claims open.
contract ClearingEngine is EmergencySettlement {
    using SafeCast for uint256;
    using SafeCast for int256;

    uint256 public constant MAX_MARKETS = 8;
    // Parameter names in the registry; the key of a market's parameter is keccak256(abi.encode(market, name)).
    bytes32 public constant P_INITIAL_MARGIN_BPS = keccak256("initialMarginBps");
    bytes32 public constant P_MAINTENANCE_MARGIN_BPS = keccak256("maintenanceMarginBps");
    bytes32 public constant P_MAX_OPEN_INTEREST = keccak256("maxOpenInterest");
    bytes32 public constant P_TRADING_FEE_BPS = keccak256("tradingFeeBps");
    bytes32 public constant P_LIQUIDATION_PENALTY_BPS = keccak256("liquidationPenaltyBps");
    bytes32 public constant P_MAX_FUNDING_RATE_PER_DAY = keccak256("maxFundingRatePerDay");
    /// @dev Base of the per-transaction price cache (transient storage): slot BASE + market index holds
    ///      (price << 1 | reduceOnly), zero when the market was not priced yet in this transaction.
    bytes32 private constant PRICE_CACHE = keccak256("bastion.ClearingEngine.priceCache");
    /// @notice Share of a liquidation penalty paid to the liquidator (the rest goes to the insurance fund).
    uint256 public constant LIQUIDATOR_SHARE_BPS = 5_000;
    /// @notice Smallest first deposit, in USD (1e18): every account must be tallied before settlement
    ///         claims open, so creating one must cost more than its tally (audit F8).
    uint256 public constant MIN_FIRST_DEPOSIT_USD18 = 10e18;

    struct Market {
        bytes32 id; // e.g. bytes32("ETH-PERP"): the oracle guard and registry key
        uint128 longOi; // trader (non-maker) long size
        uint128 shortOi; // trader short size
        int256 fundingIndex; // cumulative funding per unit of size, 1e18 USD
        uint64 lastFundingAt;
        // Book-wide sums that make Σ unrealized PnL an O(1) read. Sizes sum to zero (the maker mirrors every
        // trade), so Σ unrealized = Σ(size·fundingEntry)/1e18 − Σ openNotional, whatever the price.
        int256 openNotionalSum; // Σ openNotional, 1e18 USD
        int256 sizeFundingSum; // Σ size·fundingEntry, 1e36
    }

    struct Position {
        int128 size; // 1e18 per unit, long > 0
        int128 openNotional; // 1e18 USD cost basis, signed like size
        int256 fundingEntry; // market funding index when funding was last settled
    }

    ICollateralVault public immutable vault;
    IOracleGuard public immutable oracle;
    IParameterRegistry public immutable registry;
    /// @notice Decimal scale between 1e18 USD values and collateral units (1e12 for a 6-decimal stablecoin).
    uint256 public immutable collateralScale;
    /// @notice The backstop liquidity provider: the counterparty of every trade.
    address public immutable maker;

    // First on purpose: it shares EmergencySettlement's `settled` slot, so the hot paths' onlyRouter and
    // whenNotSettled checks cost one cold read together.
    address public router;
    Market[] internal _markets;
    mapping(bytes32 => uint256) internal _marketIndexPlusOne;
    mapping(address => int256) public collateralOf;
    mapping(address => mapping(uint256 => Position)) internal _positions;
    /// @notice Σ collateralOf over all accounts (signed: an account in bad debt counts negative).
    int256 public totalCollateral;
    uint256 public insuranceFund;
    uint256 public feesAccrued;

    /// @notice Profit not yet withdrawable: realised trading profit and liquidation rewards, each addition
    ///         locking the whole amount until `until` (a price push cannot be cashed before the watchtower
    ///         and governance can act). `first` and `last` are when the first and the latest part of the
    ///         record were realised: governance's `voidProfit` finds incident profit by them.
    /// @dev The record restarts only when it has vested and no all-market withdrawal pause runs, so profit
    ///      realised before or during an incident pause stays in one record until the pause ends, whatever
    ///      the vesting delay (withdrawals are paused meanwhile, so it cannot leave either).
    struct Vesting {
        uint128 amount;
        uint40 until;
        uint40 first;
        uint40 last;
    }

    /// @notice Longest profit vesting delay governance may set.
    uint256 public constant MAX_PROFIT_VESTING = 1 days;
    /// @notice How long realised profit stays locked against withdrawal.
    uint256 public profitVestingDelay = 1 hours;
    /// @notice Each account's locked profit.
    mapping(address => Vesting) public vestingOf;
    /// @notice Every account that ever held collateral or a position, for keepers and settlement.
    address[] public accounts;
    mapping(address => bool) public isAccount;
    /// @notice Settlement surplus already swept by governance.
    uint256 public surplusSwept;

    /// @notice Governance listed `market` at position `index` of the market list.
    event MarketAdded(bytes32 indexed market, uint256 index);
    /// @notice Governance pointed the engine at a new Router (the only caller of the user entry points).
    event RouterSet(address indexed router);
    /// @notice `amount` (collateral units) was pulled from `account` and credited to its collateral.
    event Deposited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount`; `paidNow` is false when the outflow limiter queued it as a claim.
    event Withdrawn(address indexed account, uint256 amount, bool paidNow);
    /// @notice `account`'s position in `market` changed by `delta` at `price` (1e18 USD) to `newSize`;
    ///         `realized` PnL net of funding and the `fee` (collateral units) were booked to its collateral.
    event PositionChanged(
        address indexed account,
        bytes32 indexed market,
        int256 delta,
        uint256 price,
        int256 newSize,
        int256 realized,
        uint256 fee
    );
    /// @notice Funding of `market` accrued at `ratePerSecond` (1e18 per second); `fundingIndex` is the new index.
    event FundingAccrued(bytes32 indexed market, int256 ratePerSecond, int256 fundingIndex);
    /// @notice `account` was liquidated by `liquidator`: `notional` closed (1e18 USD), `penalty` charged and
    ///         `badDebt` left (collateral units), which the insurance fund and then the maker covered.
    event Liquidated(
        address indexed account, address indexed liquidator, uint256 notional, uint256 penalty, uint256 badDebt
    );
    /// @notice `account`'s negative balance was written off: `fromInsurance` from the fund, `fromMaker` from the maker.
    event BadDebtCovered(address indexed account, uint256 fromInsurance, uint256 fromMaker);
    /// @notice `from` added `amount` to the insurance fund.
    event InsuranceFunded(address indexed from, uint256 amount);
    /// @notice Governance moved `amount` of fees to `to`; `paidNow` is false when the limiter queued it as a claim.
    event FeesSwept(address indexed to, uint256 amount, bool paidNow);
    /// @notice After settlement, governance moved `amount` of the pool that no claim needs to `to`.
    event SurplusSwept(address indexed to, uint256 amount);
    /// @notice `amount` of profit of `account` is locked until `until` (the whole locked amount: `total`).
    event ProfitVesting(address indexed account, uint256 amount, uint256 total, uint256 until);
    /// @notice Governance set the profit vesting delay.
    event ProfitVestingDelaySet(uint256 delay);
    /// @notice Voided withdrawal claims (incident report `reportHash`) returned to the insurance fund.
    event VoidedClaimsAbsorbed(uint256 amount, bytes32 indexed reportHash);

    /// @notice Only the Router may call this entry point; `caller` is not it.
    error NotRouter(address caller);
    /// @notice `market` is not listed (governance lists markets with `addMarket`).
    error UnknownMarket(bytes32 market);
    /// @notice The market list is full (MAX_MARKETS).
    error TooManyMarkets();
    /// @notice `market` is already listed.
    error MarketExists(bytes32 market);
    /// @notice An amount or trade size of zero was given.
    error ZeroAmount();
    /// @notice After the call `account`'s `equity` would be below the `required` margin (collateral units).
    error InsufficientMargin(address account, int256 equity, uint256 required);
    /// @notice `account` holds `collateral`, less than the `amount` asked for.
    error InsufficientCollateral(address account, int256 collateral, uint256 amount);
    /// @notice `market` is reduce-only (the oracle guard's checks fail or a cooldown runs): no new risk.
    error ReduceOnly(bytes32 market);
    /// @notice The trade would take `market`'s open interest `oi` above its `cap`.
    error OpenInterestCap(bytes32 market, uint256 oi, uint256 cap);
    /// @notice The oracle `price` is worse than the trader's `limit`.
    error PriceLimit(bytes32 market, uint256 price, uint256 limit);
    /// @notice `account` is not below maintenance margin: `equity` >= `maintenance`.
    error NotLiquidatable(address account, int256 equity, uint256 maintenance);
    /// @notice The backstop maker only takes the other side of trades; it cannot trade or be liquidated.
    error MakerCannotTrade();
    /// @notice A first deposit of `amount` is below the minimum `minimum` (collateral units).
    error FirstDepositTooSmall(uint256 amount, uint256 minimum);
    /// @notice Settlement claims are not open yet, so the surplus is not known.
    error ClaimsNotOpen();
    /// @notice `amount` exceeds the settlement `surplus` that no claim needs.
    error SurplusExceeded(uint256 amount, uint256 surplus);
    /// @notice The withdrawal would take profit still locked until `until`.
    error ProfitLocked(address account, uint256 locked, uint256 until);
    /// @notice A vesting delay above MAX_PROFIT_VESTING.
    error InvalidVestingDelay(uint256 delay);
    /// @notice The caller is not the vault.
    error NotVault(address caller);

    modifier onlyRouter() {
        _onlyRouter();
        _;
    }

    /// @dev Prices are cached for one entry-point call, not the whole transaction: a keeper that pushes a
    ///      price and then liquidates in one transaction must see the new price.
    modifier priced() {
        _;
        _clearPriceCache();
    }

    /// @param governance_ The timelock.
    /// @param guardian_ The emergency council (the guardian Safe): seeds `settlementCouncil`, which may
    ///        trigger settlement and nothing else.
    /// @param vault_ The collateral vault.
    /// @param oracle_ The oracle guard.
    /// @param registry_ The bounded parameter registry.
    /// @param maker_ The backstop liquidity provider account.
    /// @param collateralDecimals Decimals of the collateral token (6 for USDC).
    constructor(
        address governance_,
        address guardian_,
        ICollateralVault vault_,
        IOracleGuard oracle_,
        IParameterRegistry registry_,
        address maker_,
        uint8 collateralDecimals
    ) GuardAccess(governance_, guardian_) {
        if (address(vault_) == address(0) || maker_ == address(0)) revert ZeroAddress();
        vault = vault_;
        oracle = oracle_;
        registry = registry_;
        maker = maker_;
        collateralScale = 10 ** (18 - collateralDecimals);
        _setSettlementCouncil(guardian_);
    }

    // ----------------------------------------------------------------------------------- governance

    /// @notice List a market whose oracle-guard feed and registry parameters use the id `market`.
    /// @param market Market id such as bytes32("ETH-PERP").
    function addMarket(bytes32 market) external onlyGovernance {
        if (_marketIndexPlusOne[market] != 0) revert MarketExists(market);
        if (_markets.length >= MAX_MARKETS) revert TooManyMarkets();
        _markets.push(
            Market({
                id: market,
                longOi: 0,
                shortOi: 0,
                fundingIndex: 0,
                lastFundingAt: uint64(block.timestamp),
                openNotionalSum: 0,
                sizeFundingSum: 0
            })
        );
        _marketIndexPlusOne[market] = _markets.length;
        emit MarketAdded(market, _markets.length - 1);
    }

    /// @notice Point the engine at a new Router.
    /// @param router_ The Router contract.
    function setRouter(address router_) external onlyGovernance {
        router = router_;
        emit RouterSet(router_);
    }

    /// @notice Move accrued trading fees out (to the treasury or the insurance fund's owner).
    /// @param to Recipient.
    /// @param amount Amount in collateral units, at most the fees accrued.
    function sweepFees(address to, uint256 amount) external onlyGovernance whenNotSettled {
        feesAccrued -= amount; // reverts on underflow
        bool paidNow = vault.pay(to, amount);
        emit FeesSwept(to, amount, paidNow);
    }

    /// @notice After settlement, once claims are open: move what the pool holds beyond every claim (the
    ///         insurance fund, fees and rounding that no account is owed) to `to`. Never more than the
    ///         pool minus the total of claims, so every claim stays fully payable.
    /// @param to Recipient (the treasury).
    /// @param amount Amount in collateral units.
    function sweepSurplus(address to, uint256 amount) external onlyGovernance {
        if (!claimsOpen()) revert ClaimsNotOpen();
        uint256 surplus = settlementPool > totalClaims ? settlementPool - totalClaims : 0;
        surplus -= surplusSwept;
        if (amount > surplus) revert SurplusExceeded(amount, surplus);
        surplusSwept += amount;
        emit SurplusSwept(to, amount);
        vault.paySettlement(to, amount);
    }

    /// @notice Set how long realised profit stays locked against withdrawal.
    /// @param delay Seconds, at most MAX_PROFIT_VESTING.
    function setProfitVestingDelay(uint256 delay) external onlyGovernance {
        if (delay > MAX_PROFIT_VESTING) revert InvalidVestingDelay(delay);
        profitVestingDelay = delay;
        emit ProfitVestingDelaySet(delay);
    }

    /// @notice Book withdrawal claims that governance voided (Vault.voidClaims) into the insurance fund:
    ///         the vault keeps the tokens and no longer owes them to the claimant.
    function absorbVoidedClaims(uint256 amount, bytes32 reportHash) external {
        _onlyVault();
        insuranceFund += amount;
        emit VoidedClaimsAbsorbed(amount, reportHash);
    }

    /// @notice Void up to `cap` of `account`'s profit record if it took profit inside the incident window
    ///         [`from`, `to`] (every part of the record was still locked when incident profit was added): at
    ///         most the record and the account's collateral move to the insurance fund, and the record ends.
    ///         Profit already withdrawn is out of reach; the account may become liquidatable.
    /// @dev Only the vault, for governance's `Vault.voidProfit`, which bounds the window and records the
    ///      incident report's hash (one place for the bounds of every incident void).
    /// @return amount The amount voided (0: no record in the window).
    function voidProfitOf(address account, uint256 from, uint256 to, uint256 cap) external returns (uint256 amount) {
        _onlyVault();
        Vesting memory v = vestingOf[account];
        if (v.amount == 0 || v.last < from || v.first > to) return 0;
        delete vestingOf[account];
        int256 collateral = collateralOf[account];
        if (collateral <= 0) return 0;
        // forge-lint: disable-next-line(unsafe-typecast)
        uint256 most = cap < v.amount ? cap : v.amount; // at most a uint128
        // forge-lint: disable-next-line(unsafe-typecast)
        int256 voided = collateral < int256(most) ? collateral : int256(most);
        collateralOf[account] = collateral - voided;
        totalCollateral -= voided;
        // forge-lint: disable-next-line(unsafe-typecast)
        amount = uint256(voided); // positive: both sides of the minimum are
        insuranceFund += amount;
    }

    // ----------------------------------------------------------------------------------- router entry points

    /// @notice Credit `amount` of collateral pulled from `account` (which approved the vault).
    function deposit(address account, uint256 amount) external onlyRouter whenNotSettled {
        if (amount == 0) revert ZeroAmount();
        if (!isAccount[account]) {
            uint256 minimum = MIN_FIRST_DEPOSIT_USD18 / collateralScale;
            if (amount < minimum) revert FirstDepositTooSmall(amount, minimum);
            _track(account);
        }
        vault.pull(account, amount);
        collateralOf[account] += amount.toInt256();
        totalCollateral += amount.toInt256();
        emit Deposited(account, amount);
    }

    /// @notice Add to the insurance fund from `from`.
    function fundInsurance(address from, uint256 amount) external onlyRouter whenNotSettled {
        if (amount == 0) revert ZeroAmount();
        vault.pull(from, amount);
        insuranceFund += amount;
        emit InsuranceFunded(from, amount);
    }

    /// @notice Withdraw `amount` of free collateral; the account must stay above initial margin.
    /// @return paidNow False when the outflow limiter queued the payment as a claim on the vault.
    function withdraw(address account, uint256 amount)
        external
        onlyRouter
        whenNotSettled
        priced
        returns (bool paidNow)
    {
        if (amount == 0) revert ZeroAmount();
        _settleAllFunding(account);
        int256 collateral = collateralOf[account];
        if (collateral < amount.toInt256()) revert InsufficientCollateral(account, collateral, amount);
        Vesting storage v = vestingOf[account];
        if (v.until > block.timestamp && collateral - int256(uint256(v.amount)) < amount.toInt256()) {
            revert ProfitLocked(account, v.amount, v.until);
        }
        collateralOf[account] -= amount.toInt256();
        totalCollateral -= amount.toInt256();
        (int256 equity,, uint256 initial) = _withdrawHealth(account);
        if (_hasPositions(account) && equity < initial.toInt256()) revert InsufficientMargin(account, equity, initial);
        paidNow = vault.pay(account, amount);
        emit Withdrawn(account, amount, paidNow);
    }

    /// @notice Change `account`'s position in `market` by `delta` (1e18 per unit; positive buys).
    /// @param priceLimit Worst acceptable price: a maximum for buys, a minimum for sells (0: none).
    /// @return increasesRisk True when the trade opened or increased exposure (the Router's pause scope).
    function trade(address account, bytes32 market, int256 delta, uint256 priceLimit)
        external
        onlyRouter
        whenNotSettled
        priced
        returns (bool increasesRisk)
    {
        if (delta == 0) revert ZeroAmount();
        if (account == maker) revert MakerCannotTrade();
        uint256 idx = _indexOf(market);
        (uint256 price, bool reduceOnly) = _checkedPrice(idx);
        _accrueFunding(idx, price); // funding at the guard's price; the fill below may differ
        _track(account);
        int256 before = _positions[account][idx].size;
        int256 makerBefore = _positions[maker][idx].size;
        int256 afterSize = before + delta;
        // New risk: a bigger position, or a flip to the other side (closing exactly to zero is not one).
        increasesRisk = SignedMath.abs(afterSize) > SignedMath.abs(before)
            || (afterSize != 0 && before != 0 && (before > 0) != (afterSize > 0));
        if (increasesRisk && reduceOnly) revert ReduceOnly(market);
        // A reduce-only market's price is doubtful (held, or forced): an exit is filled at the end of the
        // guard's exit range worse for the account, so no exit is paid a held price's gift (class 3).
        if (reduceOnly) price = _exitFill(idx, delta, price);
        if (priceLimit != 0 && (delta > 0 ? price > priceLimit : price < priceLimit)) {
            revert PriceLimit(market, price, priceLimit);
        }

        uint256 fee = PerpMath.toCollateralUp(
            PerpMath.requirement(delta, price, _param(market, P_TRADING_FEE_BPS)), collateralScale
        );
        int256 realized = _applyTrade(account, idx, delta, price);
        // forge-lint: disable-next-line(unsafe-typecast)
        if (realized > 0) _vest(account, uint256(realized)); // positive, so the cast is exact
        _applyTrade(maker, idx, -delta, price);
        _updateOi(idx, before, before + delta);
        if (fee > 0) {
            collateralOf[account] -= fee.toInt256();
            totalCollateral -= fee.toInt256();
            feesAccrued += fee;
        }
        if (increasesRisk) {
            _checkOiCap(idx, market);
            _requireInitialMargin(account);
            // The maker's capacity bounds what traders can open: it must stay above initial margin too.
            if (SignedMath.abs(_positions[maker][idx].size) > SignedMath.abs(makerBefore)) {
                _requireInitialMargin(maker);
            }
        }
        emit PositionChanged(account, market, delta, price, before + delta, realized, fee);
        // A trader who closed out in bad debt leaves no negative balance behind (audit F9).
        int256 left = collateralOf[account];
        // Negated after the sign check: fits.
        // forge-lint: disable-next-line(unsafe-typecast)
        if (left < 0 && afterSize == 0 && !_hasPositions(account)) _coverBadDebt(account, uint256(-left));
    }

    /// @notice Close every position of an account below maintenance margin; the liquidator earns part of
    ///         the penalty, the insurance fund the rest. Liquidations work while trading is paused.
    function liquidate(address account, address liquidator) external onlyRouter whenNotSettled priced {
        if (account == maker) revert MakerCannotTrade();
        uint256 n = _markets.length;
        for (uint256 i; i < n; ++i) {
            if (_positions[account][i].size != 0) _accrueFunding(i, _price(i)); // last good price is fine for exits
        }
        (int256 equity,,) = _checkedHealth(account);
        // Maintenance and penalty at the registry's grace values: a guardian or RISK tightening cannot
        // liquidate existing positions before their owners had TIGHTEN_GRACE to top up.
        uint256 maintenance = _graceMaintenance(account);
        if (equity >= maintenance.toInt256()) revert NotLiquidatable(account, equity, maintenance);

        uint256 closedNotional;
        uint256 penalty18;
        for (uint256 i; i < n; ++i) {
            int256 size = _positions[account][i].size;
            if (size == 0) continue;
            uint256 price = _price(i);
            closedNotional += PerpMath.notional(size, price);
            penalty18 += PerpMath.requirement(size, price, _graceParam(_markets[i].id, P_LIQUIDATION_PENALTY_BPS));
            _applyTrade(account, i, -size, price);
            _applyTrade(maker, i, size, price);
            _updateOi(i, size, 0);
        }
        int256 remaining = collateralOf[account];
        uint256 penalty = PerpMath.toCollateralUp(penalty18, collateralScale);
        uint256 badDebt;
        if (remaining < 0) {
            // Signs checked on each branch: the casts cannot wrap.
            // forge-lint: disable-next-line(unsafe-typecast)
            badDebt = uint256(-remaining);
            penalty = 0;
            _coverBadDebt(account, badDebt);
            // forge-lint: disable-next-line(unsafe-typecast)
        } else if (uint256(remaining) < penalty) {
            // forge-lint: disable-next-line(unsafe-typecast)
            penalty = uint256(remaining);
        }
        if (penalty > 0) {
            uint256 toLiquidator = (penalty * LIQUIDATOR_SHARE_BPS) / PerpMath.BPS;
            collateralOf[account] -= penalty.toInt256();
            collateralOf[liquidator] += toLiquidator.toInt256();
            _vest(liquidator, toLiquidator);
            _track(liquidator);
            insuranceFund += penalty - toLiquidator;
            totalCollateral -= (penalty - toLiquidator).toInt256();
        }
        emit Liquidated(account, liquidator, closedNotional, penalty, badDebt);
    }

    // ----------------------------------------------------------------------------------- settlement

    /// @notice The Router's claim path: pay `account` its pro-rata share, once (to `account` itself).
    ///         Users may also call `claimSettlement()` here directly; either way each account claims once.
    /// @param account The claimant (the Router passes its caller).
    /// @return payout The amount paid.
    function claimSettlementFor(address account) external onlyRouter returns (uint256 payout) {
        return _claimSettlement(account);
    }

    // ----------------------------------------------------------------------------------- views

    /// @notice Number of markets.
    function marketCount() external view returns (uint256) {
        return _markets.length;
    }

    /// @notice Market `index`'s state.
    function marketAt(uint256 index) external view returns (Market memory) {
        return _markets[index];
    }

    /// @notice Number of accounts ever seen.
    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    /// @notice Index of `market` in the market list (reverts on an unknown market).
    function marketIndexOf(bytes32 market) external view returns (uint256) {
        return _indexOf(market);
    }

    /// @notice `account`'s position sizes in every market, by index: one cheap call for the Router's checks.
    function sizesOf(address account) external view returns (int256[] memory sizes) {
        sizes = new int256[](_markets.length);
        for (uint256 i; i < sizes.length; ++i) {
            sizes[i] = _positions[account][i].size;
        }
    }

    /// @notice `account`'s position in `market`.
    function positionOf(address account, bytes32 market) external view returns (Position memory) {
        return _positions[account][_indexOf(market)];
    }

    /// @notice Equity (collateral units, signed), maintenance and initial margin requirements at view prices.
    function health(address account) external view returns (int256 equity, uint256 maintenance, uint256 initial) {
        return _healthAt(account, settled ? _settlementPrices() : _viewPrices());
    }

    /// @notice Equity, maintenance and initial margin of `account` at the given `prices` (one per market,
    ///         by index; 1e18 USD). For the Router's liquidation-grace rule (health at a pause's start).
    function healthAt(address account, uint256[] calldata prices)
        external
        view
        returns (int256 equity, uint256 maintenance, uint256 initial)
    {
        return _healthAt(account, prices);
    }

    /// @notice What the vault must hold for the books to balance: Σ equity of all accounts + insurance fund
    ///         + fees, where Σ equity = Σ collateral + Σ unrealized PnL (net of funding). The unrealized sum is
    ///         price-independent because the book is zero-sum; it is rounded up, so the check is conservative.
    function obligations() public view returns (int256) {
        int256 unrealized18;
        for (uint256 i; i < _markets.length; ++i) {
            Market storage m = _markets[i];
            unrealized18 += -PerpMath.floorDiv(-m.sizeFundingSum, PerpMath.WAD) - m.openNotionalSum; // rounded up
        }
        // collateralScale <= 1e18 and the fund and fees are token amounts: far below 2^255.
        // forge-lint: disable-next-line(unsafe-typecast)
        int256 unrealized = -PerpMath.floorDiv(-unrealized18, int256(collateralScale)); // rounded up
        // forge-lint: disable-next-line(unsafe-typecast)
        return totalCollateral + unrealized + int256(insuranceFund) + int256(feesAccrued);
    }

    // ----------------------------------------------------------------------------------- internals

    function _indexOf(bytes32 market) internal view returns (uint256) {
        uint256 i = _marketIndexPlusOne[market];
        if (i == 0) revert UnknownMarket(market);
        return i - 1;
    }

    function _param(bytes32 market, bytes32 name) internal view returns (uint256) {
        return registry.get(keccak256(abi.encode(market, name)));
    }

    function _graceParam(bytes32 market, bytes32 name) internal view returns (uint256) {
        return registry.getWithGrace(keccak256(abi.encode(market, name)));
    }

    /// @dev Maintenance requirement of `account` at this transaction's prices and the grace values.
    function _graceMaintenance(address account) internal returns (uint256) {
        uint256 mm18;
        for (uint256 i; i < _markets.length; ++i) {
            int256 size = _positions[account][i].size;
            if (size == 0) continue;
            mm18 += PerpMath.requirement(size, _price(i), _graceParam(_markets[i].id, P_MAINTENANCE_MARGIN_BPS));
        }
        return PerpMath.toCollateralUp(mm18, collateralScale);
    }

    // Modifier bodies live in functions so each guarded entry point does not carry its own copy (size).
    function _onlyRouter() private view {
        if (msg.sender != router) revert NotRouter(msg.sender);
    }

    function _clearPriceCache() private {
        for (uint256 i; i < _markets.length; ++i) {
            bytes32 slot = bytes32(uint256(PRICE_CACHE) + i);
            assembly ("memory-safe") {
                tstore(slot, 0)
            }
        }
    }

    function _onlyVault() private view {
        if (msg.sender != address(vault)) revert NotVault(msg.sender);
    }

    function _track(address account) internal {
        if (!isAccount[account]) {
            isAccount[account] = true;
            accounts.push(account);
        }
    }

    function _hasPositions(address account) internal view returns (bool) {
        for (uint256 i; i < _markets.length; ++i) {
            if (_positions[account][i].size != 0) return true;
        }
        return false;
    }

    function _accrueFunding(uint256 idx, uint256 price) internal {
        Market storage m = _markets[idx];
        uint256 elapsed = block.timestamp - m.lastFundingAt;
        if (elapsed == 0) return;
        int256 rate = PerpMath.fundingRatePerSecond(m.longOi, m.shortOi, _param(m.id, P_MAX_FUNDING_RATE_PER_DAY));
        m.lastFundingAt = uint64(block.timestamp);
        if (rate == 0) return;
        // Rate first, then time: the rounding is the same for every position (documented funding math).
        // forge-lint: disable-next-line(divide-before-multiply, unsafe-typecast)
        m.fundingIndex += (rate * int256(price) / PerpMath.WAD) * int256(elapsed);
        emit FundingAccrued(m.id, rate, m.fundingIndex);
    }

    /// @dev Settle funding into collateral, apply the trade, realize PnL into collateral (rounded down).
    function _applyTrade(address account, uint256 idx, int256 delta, uint256 price) internal returns (int256 realized) {
        Position storage p = _positions[account][idx];
        Market storage m = _markets[idx];
        int256 index = m.fundingIndex;
        int256 funding = PerpMath.fundingOwed(p.size, p.fundingEntry, index);
        (int256 newSize, int256 newOpen, int256 pnl) = PerpMath.applyTrade(p.size, p.openNotional, delta, price);
        m.openNotionalSum += newOpen - p.openNotional;
        m.sizeFundingSum += newSize * index - int256(p.size) * p.fundingEntry;
        p.size = newSize.toInt128();
        p.openNotional = newOpen.toInt128();
        p.fundingEntry = index;
        // One unit of slack covers the proportional open-notional rounding, so credits never exceed truth.
        realized = PerpMath.toCollateralDown(pnl - funding - 1, collateralScale);
        if (pnl - funding == 0) realized = 0;
        collateralOf[account] += realized;
        totalCollateral += realized;
    }

    /// @dev Lock `amount` more profit of `account`; the whole locked amount waits a full delay again. The
    ///      record continues (keeps `first`) while it is locked or an all-market withdrawal pause runs.
    function _vest(address account, uint256 amount) internal {
        uint256 delay = profitVestingDelay;
        if (delay == 0 || amount == 0) return;
        Vesting memory v = vestingOf[account];
        if (v.amount == 0 || (v.until <= block.timestamp && !_withdrawalsPaused())) {
            // forge-lint: disable-next-line(unsafe-typecast)
            (v.amount, v.first) = (0, uint40(block.timestamp)); // a timestamp fits 40 bits
        }
        uint256 total = v.amount + amount;
        uint256 until = block.timestamp + delay;
        // forge-lint: disable-next-line(unsafe-typecast)
        (v.amount, v.until, v.last) = (total.toUint128(), uint40(until), uint40(block.timestamp)); // <= now + 1 day
        vestingOf[account] = v;
        emit ProfitVesting(account, amount, total, until);
    }

    /// @dev The Router (a ScopedPause) pauses withdrawals of every market: an incident is being contained.
    function _withdrawalsPaused() internal view returns (bool) {
        return IWithdrawPause(router).isPaused(PauseOps.WITHDRAW, PauseOps.ALL_MARKETS);
    }

    function _settleAllFunding(address account) internal {
        for (uint256 i; i < _markets.length; ++i) {
            Position storage p = _positions[account][i];
            if (p.size == 0) continue;
            _accrueFunding(i, _price(i));
            Market storage m = _markets[i];
            int256 owed = PerpMath.fundingOwed(p.size, p.fundingEntry, m.fundingIndex);
            m.sizeFundingSum += int256(p.size) * (m.fundingIndex - p.fundingEntry);
            p.fundingEntry = m.fundingIndex;
            int256 credit = PerpMath.toCollateralDown(-owed, collateralScale);
            collateralOf[account] += credit;
            totalCollateral += credit;
        }
    }

    function _updateOi(uint256 idx, int256 before, int256 afterSize) internal {
        Market storage m = _markets[idx];
        // Signs checked on each branch.
        // forge-lint: disable-next-line(unsafe-typecast)
        if (before > 0) m.longOi -= uint256(before).toUint128();
        // forge-lint: disable-next-line(unsafe-typecast)
        else if (before < 0) m.shortOi -= uint256(-before).toUint128();
        // forge-lint: disable-next-line(unsafe-typecast)
        if (afterSize > 0) m.longOi += uint256(afterSize).toUint128();
        // forge-lint: disable-next-line(unsafe-typecast)
        else if (afterSize < 0) m.shortOi += uint256(-afterSize).toUint128();
    }

    function _checkOiCap(uint256 idx, bytes32 market) internal view {
        uint256 cap = _param(market, P_MAX_OPEN_INTEREST);
        Market storage m = _markets[idx];
        uint256 oi = m.longOi > m.shortOi ? m.longOi : m.shortOi;
        if (oi > cap) revert OpenInterestCap(market, oi, cap);
    }

    function _requireInitialMargin(address account) internal {
        (int256 equity,, uint256 initial) = _checkedHealth(account);
        if (equity < initial.toInt256()) revert InsufficientMargin(account, equity, initial);
    }

    function _coverBadDebt(address account, uint256 badDebt) internal {
        uint256 fromInsurance = badDebt < insuranceFund ? badDebt : insuranceFund;
        uint256 fromMaker = badDebt - fromInsurance;
        collateralOf[account] = 0;
        insuranceFund -= fromInsurance;
        collateralOf[maker] -= fromMaker.toInt256();
        totalCollateral += fromInsurance.toInt256(); // the account's -badDebt became 0, the maker paid the rest
        emit BadDebtCovered(account, fromInsurance, fromMaker);
    }

    function _viewPrices() internal view returns (uint256[] memory prices) {
        prices = new uint256[](_markets.length);
        for (uint256 i; i < prices.length; ++i) {
            (prices[i],) = oracle.viewPrice(_markets[i].id);
        }
    }

    function _settlementPrices() internal view returns (uint256[] memory prices) {
        prices = new uint256[](_markets.length);
        for (uint256 i; i < prices.length; ++i) {
            prices[i] = frozenPrice(_markets[i].id);
        }
    }

    /// @dev The oracle guard's checked price of market `idx`, asked once per transaction and then read from
    ///      transient storage: the margin checks of one transaction all see one price and pay for one read.
    function _checkedPrice(uint256 idx) internal returns (uint256 price, bool reduceOnly) {
        bytes32 slot = bytes32(uint256(PRICE_CACHE) + idx);
        uint256 cached;
        assembly ("memory-safe") {
            cached := tload(slot)
        }
        if (cached != 0) return (cached >> 1, cached & 1 == 1);
        (price, reduceOnly) = oracle.checkedPrice(_markets[idx].id);
        cached = (price << 1) | (reduceOnly ? 1 : 0);
        assembly ("memory-safe") {
            tstore(slot, cached)
        }
    }

    /// @dev The fill of an exit in a reduce-only market: a sale at the low end of the guard's exit range, a
    ///      purchase at the high end, never better for the account than the handed-out `mark`.
    function _exitFill(uint256 idx, int256 delta, uint256 mark) internal view returns (uint256) {
        (uint256 low, uint256 high) = oracle.exitRange(_markets[idx].id);
        if (delta < 0) return low < mark ? low : mark;
        return high > mark ? high : mark;
    }

    function _price(uint256 idx) internal returns (uint256 price) {
        (price,) = _checkedPrice(idx);
    }

    /// @dev Health at this transaction's checked prices, pricing only the markets the account is in.
    function _checkedHealth(address account) internal returns (int256, uint256, uint256) {
        uint256[] memory prices = new uint256[](_markets.length);
        for (uint256 i; i < prices.length; ++i) {
            if (_positions[account][i].size != 0) prices[i] = _price(i);
        }
        return _healthAt(account, prices);
    }

    /// @dev Health for a withdrawal: in a market that fails the oracle guard's checks (reduce-only) the
    ///      held last good price may be far from the market, so each position is valued at the worst of
    ///      the held price and every feed's latest answer (a long at the lowest, a short at the highest).
    ///      A payout then never rests on a price the feeds no longer show (audit F5).
    function _withdrawHealth(address account) internal returns (int256, uint256, uint256) {
        uint256[] memory prices = new uint256[](_markets.length);
        for (uint256 i; i < prices.length; ++i) {
            int256 size = _positions[account][i].size;
            if (size == 0) continue;
            (uint256 price, bool reduceOnly) = _checkedPrice(i);
            if (reduceOnly) {
                (uint256 low, uint256 high) = oracle.observedRange(_markets[i].id);
                if (size > 0 && low < price) price = low;
                if (size < 0 && high > price) price = high;
            }
            prices[i] = price;
        }
        return _healthAt(account, prices);
    }

    function _healthAt(address account, uint256[] memory prices)
        internal
        view
        returns (int256 equity, uint256 maintenance, uint256 initial)
    {
        int256 value18;
        uint256 mm18;
        uint256 im18;
        for (uint256 i; i < prices.length; ++i) {
            Position storage p = _positions[account][i];
            if (p.size == 0) continue;
            Market storage m = _markets[i];
            value18 += PerpMath.unrealized(p.size, p.openNotional, p.fundingEntry, m.fundingIndex, prices[i]);
            mm18 += PerpMath.requirement(p.size, prices[i], _param(m.id, P_MAINTENANCE_MARGIN_BPS));
            im18 += PerpMath.requirement(p.size, prices[i], _param(m.id, P_INITIAL_MARGIN_BPS));
        }
        equity = collateralOf[account] + PerpMath.toCollateralDown(value18, collateralScale);
        maintenance = PerpMath.toCollateralUp(mm18, collateralScale);
        initial = PerpMath.toCollateralUp(im18, collateralScale);
    }

    // ----------------------------------------------------------------------------------- settlement hooks

    /// @dev Freeze every market at the oracle guard's last good price (exits never need a fresh oracle) and
    ///      accrue funding up to now, so equity at the frozen prices never moves again.
    function _freezePrices() internal override {
        for (uint256 i; i < _markets.length; ++i) {
            (uint256 price,) = oracle.checkedPrice(_markets[i].id);
            _accrueFunding(i, price);
            _freezePrice(_markets[i].id, price);
        }
    }

    /// @dev The vault's tokens not already promised to queued withdrawals.
    function _settlementPool() internal view override returns (uint256) {
        return vault.freeBalance();
    }

    /// @dev Claims are tallied (`_needsTally`): Σ max(0, equity) is not known in O(1). Never called.
    function _totalClaims() internal pure override returns (uint256) {
        return 0;
    }

    function _needsTally() internal pure override returns (bool) {
        return true;
    }

    function _claimantCount() internal view override returns (uint256) {
        return accounts.length;
    }

    function _isClaimant(address account) internal view override returns (bool) {
        return isAccount[account];
    }

    /// @dev Equity at the frozen prices, floored at zero (an account in bad debt claims nothing).
    function _claimOf(address account) internal view override returns (uint256) {
        (int256 equity,,) = _healthAt(account, _settlementPrices());
        // forge-lint: disable-next-line(unsafe-typecast)
        return equity > 0 ? uint256(equity) : 0;
    }

    /// @dev Settlement payouts bypass the outflow limiter: settlement is the orderly exit.
    function _payout(address to, uint256 amount) internal override {
        vault.paySettlement(to, amount);
    }

    /// @dev The backstop maker's equity is negative at the oracle guard's prices (stored accounting and
    ///      guarded prices, never a spot price that a flash loan could move).
    function _isInsolvent() internal view override returns (bool) {
        (int256 equity,,) = _healthAt(maker, _viewPrices());
        return equity < 0;
    }
}
