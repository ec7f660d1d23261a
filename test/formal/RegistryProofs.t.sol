// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {ParameterRegistry} from "../../contracts/governance/ParameterRegistry.sol";

/// @notice Halmos proofs (`make proofs`) of ParameterRegistry's bounds. Rules, base, values, TTLs and
///         times are symbolic; governance registers once, then the RISK key and the guardian act.
///         Bounded: two fast (non-governance) calls, each up to 60 days apart, then any later time.
contract RegistryProofs is Test {
    ParameterRegistry internal reg;
    address internal constant GOV = address(0x60F);
    address internal constant GUARDIAN = address(0x6A4D);
    address internal constant RISK = address(0x415C);
    bytes32 internal constant KEY = keccak256("param");

    function setUp() public {
        vm.warp(1_750_000_000);
        reg = new ParameterRegistry(GOV, GUARDIAN, RISK);
    }

    /// @dev `a` is at least as tight as `b`.
    function _atLeastAsTight(bool higherIsTighter, uint256 a, uint256 b) internal pure returns (bool) {
        return higherIsTighter ? a >= b : a <= b;
    }

    /// @dev Governance registers KEY; any rules `register` accepts.
    function _register(uint256 bounds, uint256 rules, uint256 base)
        internal
        returns (ParameterRegistry.Rules memory r)
    {
        r.min = uint104(bounds);
        r.max = uint104(bounds >> 104);
        r.maxStep = uint104(rules);
        r.minInterval = uint32(rules >> 104);
        r.maxTtl = uint32(rules >> 136);
        r.higherIsTighter = (rules >> 168) & 1 == 1;
        vm.prank(GOV);
        try reg.register(KEY, r, base, bytes32(0)) {}
        catch {
            vm.assume(false);
        }
    }

    /// @dev One fast call: [0,8) kind (0 RISK tighten, 1 guardian emergency, 2 RISK emergency),
    ///      [8,40) ttl, [40,144) value.
    function _fast(uint256 dt, uint256 call) internal {
        vm.assume(dt <= 60 days);
        vm.warp(block.timestamp + dt);
        uint8 kind = uint8(call);
        uint256 ttl = uint32(call >> 8);
        uint256 value = uint104(call >> 40);
        if (kind == 0) {
            vm.prank(RISK);
            try reg.tighten(KEY, value, bytes32(0)) {} catch {}
        } else {
            vm.prank(kind == 1 ? GUARDIAN : RISK);
            try reg.emergencyTighten(KEY, value, ttl, bytes32(0)) {} catch {}
        }
    }

    /// @notice One RISK or guardian call of any kind, arguments and time: the effective value stays in
    ///         [min, max], then and at any later time, and is never looser than the base governance set.
    function check_fastCallKeepsBoundsNeverLoosens(
        uint256 bounds,
        uint256 rules,
        uint256 base,
        uint256 dt,
        uint256 call,
        uint256 dtEnd
    ) public {
        ParameterRegistry.Rules memory r = _register(bounds, rules, base);
        _fast(dt, call);
        (uint256 eff, uint256 base1,,) = reg.state(KEY);
        assert(eff >= r.min && eff <= r.max);
        assert(_atLeastAsTight(r.higherIsTighter, base1, base));
        assert(_atLeastAsTight(r.higherIsTighter, eff, base));
        vm.assume(dtEnd <= 60 days);
        vm.warp(block.timestamp + dtEnd);
        uint256 later = reg.get(KEY);
        assert(later >= r.min && later <= r.max);
        assert(_atLeastAsTight(r.higherIsTighter, later, base1));
    }

    /// @notice A guardian tightening announced until `until` holds (or something tighter) until then,
    ///         whatever RISK or the guardian call next (renewals and replacements: audit F4's class).
    function check_tighteningHoldsUntilItsEnd(
        uint256 bounds,
        uint256 rules,
        uint256 base,
        uint256 value,
        uint256 ttl,
        uint256 dt,
        uint256 call,
        uint256 dtEnd
    ) public {
        ParameterRegistry.Rules memory r = _register(bounds, rules, base);
        vm.prank(GUARDIAN);
        reg.emergencyTighten(KEY, value, ttl, bytes32(0));
        (uint256 eff1,,, uint256 until1) = reg.state(KEY);
        _fast(dt, call);
        vm.assume(dtEnd <= 60 days);
        vm.warp(block.timestamp + dtEnd);
        if (block.timestamp < until1) assert(_atLeastAsTight(r.higherIsTighter, reg.get(KEY), eff1));
    }
}
