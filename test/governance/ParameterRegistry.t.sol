// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {ParameterRegistry} from "../../contracts/governance/ParameterRegistry.sol";

contract ParameterRegistryTest is Test {
    ParameterRegistry internal reg;
    address internal gov = makeAddr("governance");
    address internal guardian = makeAddr("guardian");
    address internal risk = makeAddr("risk");
    address internal stranger = makeAddr("stranger");

    bytes32 internal mm; // maintenance margin, bps: higher is tighter
    bytes32 internal oi; // open-interest cap, 18 decimals: lower is tighter
    bytes32 internal constant REPORT = keccak256("report-1");

    function setUp() public {
        vm.warp(1_700_000_000);
        reg = new ParameterRegistry(gov, guardian, risk);
        mm = reg.keyOf("ETH-PERP", keccak256("maintenanceMarginBps"));
        oi = reg.keyOf("ETH-PERP", keccak256("openInterestCap"));
        vm.startPrank(gov);
        reg.register(mm, _rules(100, 2000, 50, 1 hours, 7 days, true), 500, REPORT);
        reg.register(oi, _rules(1e18, 1e24, 1e22, 1 hours, 7 days, false), 5e23, REPORT);
        vm.stopPrank();
    }

    function _rules(uint256 min, uint256 max, uint256 step, uint256 interval, uint256 ttl, bool up)
        internal
        pure
        returns (ParameterRegistry.Rules memory r)
    {
        r.min = uint104(min);
        r.max = uint104(max);
        r.maxStep = uint104(step);
        r.minInterval = uint32(interval);
        r.maxTtl = uint32(ttl);
        r.higherIsTighter = up;
    }

    // ------------------------------------------------------------ registration

    function test_registerSetsValueAndRules() public view {
        assertEq(reg.get(mm), 500);
        assertEq(reg.get(oi), 5e23);
        assertTrue(reg.isRegistered(mm));
        ParameterRegistry.Rules memory r = reg.rulesOf(mm);
        assertEq(r.min, 100);
        assertEq(r.max, 2000);
        assertEq(r.maxStep, 50);
        assertEq(r.lastChange, 0);
        assertTrue(r.higherIsTighter);
    }

    function test_keyOfIsDistinctPerMarketAndParam() public view {
        assertTrue(reg.keyOf("ETH-PERP", "a") != reg.keyOf("BTC-PERP", "a"));
        assertTrue(reg.keyOf("ETH-PERP", "a") != reg.keyOf("ETH-PERP", "b"));
        assertEq(reg.keyOf("ETH-PERP", "a"), keccak256(abi.encode(bytes32("ETH-PERP"), bytes32("a"))));
    }

    function test_registerOnlyGovernance() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, stranger));
        reg.register("x", _rules(0, 10, 1, 0, 1 days, true), 5, REPORT);
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, risk));
        reg.register("x", _rules(0, 10, 1, 0, 1 days, true), 5, REPORT);
    }

    function test_registerRejectsBadInput() public {
        vm.startPrank(gov);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.AlreadyRegistered.selector, mm));
        reg.register(mm, _rules(0, 10, 1, 0, 1 days, true), 5, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidRules.selector, bytes32("x")));
        reg.register("x", _rules(11, 10, 1, 0, 1 days, true), 10, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidRules.selector, bytes32("x")));
        reg.register("x", _rules(0, 10, 0, 0, 1 days, true), 5, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidRules.selector, bytes32("x")));
        reg.register("x", _rules(0, 10, 1, 0, 31 days, true), 5, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidRules.selector, bytes32("x")));
        reg.register("x", _rules(0, 10, 1, 0, 0, true), 5, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.OutOfBounds.selector, bytes32("x"), 11, 0, 10));
        reg.register("x", _rules(0, 10, 1, 0, 1 days, true), 11, REPORT);
        vm.stopPrank();
    }

    function test_registerEmitsReportHash() public {
        vm.expectEmit(true, true, true, true, address(reg));
        emit ParameterRegistry.ParameterUpdated(
            "x", ParameterRegistry.Action.Registered, gov, 5, 0, 0, keccak256("sim")
        );
        vm.prank(gov);
        reg.register("x", _rules(0, 10, 1, 0, 1 days, true), 5, keccak256("sim"));
    }

    function test_unknownKeyReverts() public {
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.UnknownParameter.selector, bytes32("nope")));
        reg.get("nope");
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.UnknownParameter.selector, bytes32("nope")));
        reg.tighten("nope", 1, REPORT);
    }

    // ------------------------------------------------------------ RISK: permanent tightening

    function test_riskTightensWithinStep() public {
        vm.expectEmit(true, true, true, true, address(reg));
        emit ParameterRegistry.ParameterUpdated(mm, ParameterRegistry.Action.Tightened, risk, 550, 0, 0, REPORT);
        vm.prank(risk);
        reg.tighten(mm, 550, REPORT);
        assertEq(reg.get(mm), 550);
        assertEq(reg.rulesOf(mm).lastChange, block.timestamp);
    }

    function test_riskTightensLowerIsTighter() public {
        vm.prank(risk);
        reg.tighten(oi, 5e23 - 1e22, REPORT);
        assertEq(reg.get(oi), 4.9e23);
    }

    function test_riskCannotLoosen() public {
        vm.startPrank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotTighter.selector, mm, 500, 499));
        reg.tighten(mm, 499, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotTighter.selector, mm, 500, 500));
        reg.tighten(mm, 500, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotTighter.selector, oi, 5e23, 5e23 + 1));
        reg.tighten(oi, 5e23 + 1, REPORT);
        vm.stopPrank();
    }

    function test_riskStepLimited() public {
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.StepTooLarge.selector, mm, 500, 551, 50));
        reg.tighten(mm, 551, REPORT);
    }

    function test_riskIntervalLimited() public {
        vm.startPrank(risk);
        reg.tighten(mm, 550, REPORT);
        uint256 next = block.timestamp + 1 hours;
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.TooSoon.selector, mm, next));
        reg.tighten(mm, 560, REPORT);
        vm.warp(next - 1);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.TooSoon.selector, mm, next));
        reg.tighten(mm, 560, REPORT);
        vm.warp(next);
        reg.tighten(mm, 600, REPORT);
        vm.stopPrank();
        assertEq(reg.get(mm), 600);
    }

    function test_intervalIsPerKey() public {
        vm.startPrank(risk);
        reg.tighten(mm, 550, REPORT);
        reg.tighten(oi, 4.9e23, REPORT); // different key, not blocked
        vm.stopPrank();
    }

    function test_riskCannotLeaveBounds() public {
        vm.prank(gov);
        reg.setBase(mm, 1980, REPORT);
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.OutOfBounds.selector, mm, 2001, 100, 2000));
        reg.tighten(mm, 2001, REPORT);
    }

    function test_onlyRiskTightensPermanently() public {
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotRisk.selector, guardian));
        reg.tighten(mm, 550, REPORT);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotRisk.selector, stranger));
        reg.tighten(mm, 550, REPORT);
    }

    function test_removedRiskHasNoPower() public {
        vm.prank(gov);
        reg.setRisk(address(0));
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotRisk.selector, risk));
        reg.tighten(mm, 550, REPORT);
        vm.prank(address(0));
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotRisk.selector, address(0)));
        reg.tighten(mm, 550, REPORT);
    }

    // ------------------------------------------------------------ emergency tightening

    function test_emergencyTighteningExpires() public {
        uint256 t0 = block.timestamp;
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, keccak256("incident-7"));
        assertEq(reg.get(mm), 550);
        (uint256 eff, uint256 base, uint256 ov, uint256 until) = reg.state(mm);
        assertEq(eff, 550);
        assertEq(base, 500);
        assertEq(ov, 550);
        assertEq(until, t0 + 1 days);
        vm.warp(t0 + 1 days - 1);
        assertEq(reg.get(mm), 550);
        vm.warp(t0 + 1 days);
        assertEq(reg.get(mm), 500);
    }

    function test_emergencyByRiskAndGovernance() public {
        vm.prank(risk);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(gov);
        reg.emergencyTighten(mm, 600, 1 days, REPORT);
        assertEq(reg.get(mm), 600);
    }

    function test_strangerCannotEmergencyTighten() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotRiskOrGuardian.selector, stranger));
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
    }

    function test_emergencyStepAndIntervalFromEffectiveValue() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.StepTooLarge.selector, mm, 550, 601, 50));
        reg.emergencyTighten(mm, 601, 1 days, REPORT);
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.NotTighter.selector, mm, 550, 540));
        reg.emergencyTighten(mm, 540, 1 days, REPORT); // cannot loosen the override either
        vm.prank(risk);
        reg.emergencyTighten(mm, 600, 1 days, REPORT);
        assertEq(reg.get(mm), 600);
    }

    function test_emergencyAndPermanentShareInterval() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.TooSoon.selector, mm, block.timestamp + 1 hours));
        reg.tighten(mm, 520, REPORT);
    }

    function test_emergencyTtlBounds() public {
        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidTtl.selector, mm, 0, 7 days));
        reg.emergencyTighten(mm, 550, 0, REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.InvalidTtl.selector, mm, 7 days + 1, 7 days));
        reg.emergencyTighten(mm, 550, 7 days + 1, REPORT);
        vm.stopPrank();
    }

    function test_renewalExtendsWithoutMoving() public {
        uint256 t0 = block.timestamp;
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.warp(t0 + 10 minutes); // inside the interval: renewal is not a move
        vm.expectEmit(true, true, true, true, address(reg));
        emit ParameterRegistry.ParameterUpdated(
            mm, ParameterRegistry.Action.EmergencyRenewed, risk, 500, 550, t0 + 10 minutes + 2 days, REPORT
        );
        vm.prank(risk);
        reg.emergencyTighten(mm, 550, 2 days, REPORT);
        vm.warp(t0 + 1 days + 1);
        assertEq(reg.get(mm), 550);
        vm.warp(t0 + 10 minutes + 2 days);
        assertEq(reg.get(mm), 500);
        assertEq(reg.rulesOf(mm).lastChange, t0); // renewal did not count as a change
    }

    function test_afterExpiryNewTighteningStartsFromBase() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.warp(block.timestamp + 1 days);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.StepTooLarge.selector, mm, 500, 600, 50));
        reg.emergencyTighten(mm, 600, 1 days, REPORT); // 550 expired: the step counts from 500
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT); // same value after expiry is a new tightening
        assertEq(reg.get(mm), 550);
    }

    // ------------------------------------------------------------ governance

    function test_governanceLoosensAnywhereInBounds() public {
        vm.prank(gov);
        reg.setBase(mm, 100, REPORT);
        assertEq(reg.get(mm), 100);
        vm.prank(gov);
        reg.setBase(oi, 1e24, REPORT);
        assertEq(reg.get(oi), 1e24);
    }

    function test_governanceStillBoundedByRules() public {
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.OutOfBounds.selector, mm, 99, 100, 2000));
        reg.setBase(mm, 99, REPORT);
    }

    function test_onlyGovernanceSetsBaseAndRules() public {
        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        reg.setBase(mm, 400, REPORT);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        reg.setRules(mm, _rules(0, 5000, 50, 1 hours, 7 days, true), REPORT);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, guardian));
        reg.clearOverride(mm, REPORT);
        vm.stopPrank();
        vm.prank(risk);
        vm.expectRevert(abi.encodeWithSelector(GuardAccess.NotGovernance.selector, risk));
        reg.setRisk(risk);
    }

    function test_baseLooseningKeepsTighterOverride() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.prank(gov);
        reg.setBase(mm, 400, REPORT);
        assertEq(reg.get(mm), 550);
        vm.warp(block.timestamp + 1 days);
        assertEq(reg.get(mm), 400);
    }

    function test_baseBeyondOverrideClearsIt() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.prank(gov);
        reg.setBase(mm, 700, REPORT);
        (uint256 eff,, uint256 ov, uint256 until) = reg.state(mm);
        assertEq(eff, 700);
        assertEq(ov, 0);
        assertEq(until, 0);
    }

    function test_riskTighteningPastOverrideClearsIt() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 520, 1 days, REPORT);
        vm.warp(block.timestamp + 1 hours);
        vm.prank(risk);
        reg.tighten(mm, 540, REPORT); // base 500 -> 540, past the 520 override
        (uint256 eff, uint256 base,, uint256 until) = reg.state(mm);
        assertEq(eff, 540);
        assertEq(base, 540);
        assertEq(until, 0);
    }

    function test_clearOverride() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.prank(gov);
        reg.clearOverride(mm, REPORT);
        assertEq(reg.get(mm), 500);
    }

    function test_setRulesChangesBounds() public {
        vm.prank(gov);
        reg.setRules(mm, _rules(300, 3000, 100, 2 hours, 3 days, true), REPORT);
        ParameterRegistry.Rules memory r = reg.rulesOf(mm);
        assertEq(r.max, 3000);
        assertEq(r.maxStep, 100);
        vm.prank(risk);
        reg.tighten(mm, 600, REPORT);
        assertEq(reg.get(mm), 600);
    }

    function test_setRulesKeepsLastChange() public {
        vm.prank(risk);
        reg.tighten(mm, 550, REPORT);
        vm.prank(gov);
        reg.setRules(mm, _rules(100, 2000, 50, 1 hours, 7 days, true), REPORT);
        assertEq(reg.rulesOf(mm).lastChange, block.timestamp);
    }

    function test_setRulesRejectsBaseOutsideNewBounds() public {
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.OutOfBounds.selector, mm, 500, 600, 2000));
        reg.setRules(mm, _rules(600, 2000, 50, 1 hours, 7 days, true), REPORT);
    }

    function test_setRulesRejectsStrandedOrFlippedOverride() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        vm.startPrank(gov);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.LiveOverrideConflict.selector, mm));
        reg.setRules(mm, _rules(100, 540, 50, 1 hours, 7 days, true), REPORT);
        vm.expectRevert(abi.encodeWithSelector(ParameterRegistry.LiveOverrideConflict.selector, mm));
        reg.setRules(mm, _rules(100, 2000, 50, 1 hours, 7 days, false), REPORT);
        reg.clearOverride(mm, REPORT);
        reg.setRules(mm, _rules(100, 2000, 50, 1 hours, 7 days, false), REPORT);
        vm.stopPrank();
        assertFalse(reg.rulesOf(mm).higherIsTighter);
    }

    // ------------------------------------------------------------ fuzz

    /// Whatever RISK asks, a successful change is tighter, in bounds and within one step.
    function testFuzz_riskChangeBounded(uint256 value, bool emergency) public {
        value = bound(value, 0, 3000);
        uint256 before = reg.get(mm);
        vm.prank(risk);
        if (emergency) {
            try reg.emergencyTighten(mm, value, 1 days, REPORT) {} catch {}
        } else {
            try reg.tighten(mm, value, REPORT) {} catch {}
        }
        uint256 afterV = reg.get(mm);
        assertGe(afterV, before);
        assertLe(afterV - before, 50);
        assertLe(afterV, 2000);
        assertEq(afterV == before, value <= before || value > before + 50);
    }

    /// Governance can place the base anywhere in bounds and nowhere else.
    function testFuzz_governanceBounds(uint256 value) public {
        value = bound(value, 0, 1e25);
        vm.prank(gov);
        try reg.setBase(oi, value, REPORT) {
            assertTrue(value >= 1e18 && value <= 1e24);
        } catch {
            assertTrue(value < 1e18 || value > 1e24);
        }
        uint256 v = reg.get(oi);
        assertTrue(v >= 1e18 && v <= 1e24);
    }

    // ------------------------------------------------------------ gas (hot path)

    function test_gas_registryGet() public {
        vm.prank(guardian);
        reg.emergencyTighten(mm, 550, 1 days, REPORT);
        reg.get(mm);
        vm.snapshotGasLastCall("ParameterRegistry", "get");
    }
}
