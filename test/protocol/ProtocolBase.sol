// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {MockAggregator} from "../../contracts/world/MockAggregator.sol";
import {OracleGuard} from "../../contracts/guards/OracleGuard.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {ParameterRegistry} from "../../contracts/governance/ParameterRegistry.sol";
import {ClearingEngine} from "../../contracts/protocol/ClearingEngine.sol";
import {Router} from "../../contracts/protocol/Router.sol";
import {Vault} from "../../contracts/protocol/Vault.sol";
import {ICollateralVault, IOracleGuard, IParameterRegistry} from "../../contracts/interfaces/IProtocolGuards.sol";

/// @dev Deploys the reference clearinghouse with every guard, the way `bastion deploy` does, with this
///      test contract as governance (no timelock delay to wait out in unit tests).
abstract contract ProtocolBase is Test {
    bytes32 internal constant ETH = "ETH-PERP";
    bytes32 internal constant BTC = "BTC-PERP";
    uint256 internal constant USD = 1e6;

    address internal gov = address(this);
    address internal guardian = makeAddr("guardian");
    address internal risk = makeAddr("risk");
    address internal maker = makeAddr("maker");
    address internal keeper = makeAddr("keeper");

    MintableToken internal usdc;
    MockAggregator internal ethFeed;
    MockAggregator internal ethFeed2;
    MockAggregator internal btcFeed;
    MockAggregator internal btcFeed2;
    OracleGuard internal oracle;
    ParameterRegistry internal registry;
    Vault internal vault;
    ClearingEngine internal engine;
    Router internal router;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        usdc = new MintableToken("USD Coin", "USDC", 6, address(this));
        oracle = new OracleGuard(gov, guardian);
        registry = new ParameterRegistry(gov, guardian, risk);
        vault = new Vault(
            usdc,
            gov,
            guardian,
            OutflowLimiter.AssetConfig({
                limitBps: 1_000,
                window: 6 hours,
                floor: 50_000 * USD,
                cooldown: 1 hours,
                mode: OutflowLimiter.Mode.DELAYED,
                creditShift: 1
            })
        );
        engine = new ClearingEngine(
            gov,
            guardian,
            ICollateralVault(address(vault)),
            IOracleGuard(address(oracle)),
            IParameterRegistry(address(registry)),
            maker,
            6
        );
        router = new Router(gov, guardian, engine, 2_000);
        vault.setEngine(address(engine));
        vault.setPauseSource(address(router));
        engine.setRouter(address(router));
        (ethFeed, ethFeed2) = _listMarket(ETH, 3_000e8, 2_000e18);
        (btcFeed, btcFeed2) = _listMarket(BTC, 60_000e8, 100e18);
        _fund(maker, 2_000_000 * USD);
        _fundInsurance(100_000 * USD);
    }

    function _listMarket(bytes32 id, int256 price, uint256 maxOi)
        internal
        returns (MockAggregator a, MockAggregator b)
    {
        a = new MockAggregator(8, "primary", address(this));
        b = new MockAggregator(8, "secondary", address(this));
        a.setAnswer(price);
        b.setAnswer(price);
        oracle.setMarket(
            id,
            OracleGuard.FeedConfig({
                primary: address(a),
                primaryHeartbeat: 3 hours,
                secondary: address(b),
                secondaryHeartbeat: 3 hours,
                maxDeviationBps: 200,
                maxJumpBps: 1_500,
                jumpInterval: 1 hours,
                jumpCooldown: 15 minutes
            })
        );
        _register(id, "initialMarginBps", 1_000, 200, 5_000, 500, true);
        _register(id, "maintenanceMarginBps", 500, 100, 2_500, 250, true);
        _register(id, "maxOpenInterest", maxOi, maxOi / 100, maxOi * 10, maxOi / 2, false);
        _register(id, "tradingFeeBps", 10, 1, 100, 10, true);
        _register(id, "liquidationPenaltyBps", 100, 25, 500, 50, true);
        _register(id, "maxFundingRatePerDay", 1e15, 1e13, 1e17, 1e15, true);
        engine.addMarket(id);
    }

    function _register(
        bytes32 market,
        string memory name,
        uint256 base,
        uint256 min,
        uint256 max,
        uint256 step,
        bool tighter
    ) internal {
        registry.register(
            keccak256(abi.encode(market, keccak256(bytes(name)))),
            ParameterRegistry.Rules({
                min: uint104(min),
                max: uint104(max),
                lastChange: 0,
                higherIsTighter: tighter,
                maxStep: uint104(step),
                minInterval: 1 hours,
                maxTtl: 7 days
            }),
            base,
            bytes32(0)
        );
    }

    function _fund(address who, uint256 amount) internal {
        usdc.mint(who, amount);
        vm.startPrank(who);
        usdc.approve(address(vault), type(uint256).max);
        router.deposit(amount);
        vm.stopPrank();
    }

    function _fundInsurance(uint256 amount) internal {
        usdc.mint(address(this), amount);
        usdc.approve(address(vault), amount);
        router.fundInsurance(amount);
    }

    function _setPrice(bytes32 market, int256 price) internal {
        (MockAggregator a, MockAggregator b) = market == ETH ? (ethFeed, ethFeed2) : (btcFeed, btcFeed2);
        a.setAnswer(price);
        b.setAnswer(price);
    }

    function _trade(address who, bytes32 market, int256 delta) internal {
        vm.prank(who);
        router.trade(market, delta, 0);
    }

    function _equity(address who) internal view returns (int256 equity) {
        (equity,,) = engine.health(who);
    }

    /// @dev The books balance: what the vault holds (net of queued claims) covers what it owes.
    function _assertSolvent() internal view {
        assertGe(int256(vault.freeBalance()), engine.obligations(), "vault owes more than it holds");
    }
}
