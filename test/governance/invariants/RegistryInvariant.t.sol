// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {ParameterRegistry} from "../../../contracts/governance/ParameterRegistry.sol";

/// Drives one parameter (a margin in bps, higher is tighter) with random RISK, guardian and governance
/// actions and time jumps. Keeps an independent model of base / override / expiry (from the documented
/// rules: a live tightening is never ended early by RISK or the guardian), and counts every
/// non-governance change that loosened, jumped more than a step, or came sooner than the interval.
contract RegistryHandler is Test {
    ParameterRegistry public reg;
    bytes32 public key;
    address internal gov;
    address internal guardian;
    address internal risk;

    uint256 public constant MIN = 100;
    uint256 public constant MAX = 2000;
    uint256 public constant STEP = 50;
    uint256 public constant INTERVAL = 1 hours;
    uint256 public constant MAX_TTL = 3 days;

    uint256 public now_;
    // model
    uint256 public mBase;
    uint256 public mOverride;
    uint256 public mUntil;
    uint256 public lastMove; // time of the last non-governance move (0 = never)

    uint256 public looseningByRisk;
    uint256 public oversizedSteps;
    uint256 public tooSoonMoves;
    uint256 public riskMoves;
    uint256 public expiries; // times an override was observed to lapse back to base

    constructor(ParameterRegistry reg_, bytes32 key_, address gov_, address guardian_, address risk_, uint256 base) {
        reg = reg_;
        key = key_;
        gov = gov_;
        guardian = guardian_;
        risk = risk_;
        mBase = base;
        now_ = block.timestamp;
    }

    modifier clock() {
        vm.warp(now_);
        _;
    }

    function modelEffective() public view returns (uint256) {
        return now_ < mUntil ? mOverride : mBase;
    }

    function _afterBaseChange() internal {
        if (mUntil != 0 && mOverride <= mBase) {
            mOverride = 0;
            mUntil = 0;
        }
    }

    function _recordMove(uint256 before, uint256 afterV) internal {
        riskMoves++;
        if (afterV < before) looseningByRisk++;
        if (afterV - before > STEP) oversizedSteps++;
        if (lastMove != 0 && now_ < lastMove + INTERVAL) tooSoonMoves++;
        lastMove = now_;
    }

    function riskTighten(uint256 v) external clock {
        v = bound(v, MIN - 10, MAX + 10);
        uint256 before = modelEffective();
        vm.prank(risk);
        try reg.tighten(key, v, keccak256("r")) {
            mBase = v;
            _afterBaseChange();
            _recordMove(before, modelEffective());
        } catch {}
    }

    function emergency(uint256 v, uint256 ttl, bool byGuardian) external clock {
        uint256 cur = modelEffective();
        // half the time aim near the current value so that renewals and valid steps happen
        v = v % 2 == 0 ? cur + ((v / 2) % (2 * STEP + 2)) : bound(v, MIN - 10, MAX + 10);
        ttl = bound(ttl, 0, MAX_TTL + 1);
        bool live = now_ < mUntil;
        // The rule (not the code): a live tightening holds at least until the end it was given; only
        // governance ends one early. So a renewal or a replacement ends at the later of both ends.
        uint256 end = now_ + ttl;
        if (live && mUntil > end) end = mUntil;
        vm.prank(byGuardian ? guardian : risk);
        try reg.emergencyTighten(key, v, ttl, keccak256("e")) {
            if (live && v == mOverride) {
                mUntil = end; // renewal: nothing moves
            } else {
                mOverride = v;
                mUntil = end;
                _recordMove(cur, modelEffective());
            }
        } catch {}
    }

    /// @dev Renew the live override at its value with any ttl, shorter than what remains included.
    function renew(uint256 ttl, bool byGuardian) external clock {
        if (now_ >= mUntil) return;
        ttl = bound(ttl, 1, MAX_TTL);
        uint256 end = now_ + ttl > mUntil ? now_ + ttl : mUntil;
        vm.prank(byGuardian ? guardian : risk);
        try reg.emergencyTighten(key, mOverride, ttl, keccak256("renew")) {
            mUntil = end;
        } catch {}
    }

    function govSetBase(uint256 v) external clock {
        v = bound(v, MIN - 10, MAX + 10);
        vm.prank(gov);
        try reg.setBase(key, v, keccak256("g")) {
            mBase = v;
            _afterBaseChange();
        } catch {}
    }

    function govClear() external clock {
        vm.prank(gov);
        reg.clearOverride(key, keccak256("c"));
        mOverride = 0;
        mUntil = 0;
    }

    function warp(uint256 dt) external {
        bool wasLive = now_ < mUntil;
        // Mix boundary-hugging jumps (one second short of an interval) with short and long ones.
        uint256 kind = dt % 5;
        if (kind == 4 && now_ < mUntil) now_ = mUntil; // land exactly on an expiry
        else if (kind == 0) now_ += INTERVAL - 1;
        else if (kind == 1) now_ += 1;
        else if (kind == 2) now_ += bound(dt, 0, 2 hours);
        else now_ += bound(dt, 0, 2 days);
        if (wasLive && now_ >= mUntil) {
            vm.warp(now_);
            if (reg.get(key) == mBase) expiries++;
        }
    }
}

contract RegistryInvariantTest is StdInvariant, Test {
    RegistryHandler internal handler;
    ParameterRegistry internal reg;
    bytes32 internal key;

    function setUp() public {
        vm.warp(1_700_000_000);
        address gov = makeAddr("governance");
        address guardian = makeAddr("guardian");
        address risk = makeAddr("risk");
        reg = new ParameterRegistry(gov, guardian, risk);
        key = reg.keyOf("ETH-PERP", keccak256("maintenanceMarginBps"));
        ParameterRegistry.Rules memory r;
        r.min = 100;
        r.max = 2000;
        r.maxStep = 50;
        r.minInterval = 1 hours;
        r.maxTtl = 3 days;
        r.higherIsTighter = true;
        vm.prank(gov);
        reg.register(key, r, 500, keccak256("init"));
        handler = new RegistryHandler(reg, key, gov, guardian, risk, 500);
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 96
    function invariant_withinBounds() public {
        vm.warp(handler.now_());
        uint256 v = reg.get(key);
        assertGe(v, 100);
        assertLe(v, 2000);
        (, uint256 base,,) = reg.state(key);
        assertGe(base, 100);
        assertLe(base, 2000);
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 96
    function invariant_riskMovesAreTighterOneStepPerInterval() public view {
        assertEq(handler.looseningByRisk(), 0, "RISK or guardian loosened");
        assertEq(handler.oversizedSteps(), 0, "moved more than a step");
        assertEq(handler.tooSoonMoves(), 0, "moved twice within an interval");
    }

    /// The registry agrees with the model: an emergency tightening lapses back to base at its expiry.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 96
    function invariant_matchesModelAndExpires() public {
        vm.warp(handler.now_());
        assertEq(reg.get(key), handler.modelEffective());
        (,,, uint256 until) = reg.state(key);
        if (block.timestamp >= until) assertEq(reg.get(key), handler.mBase());
    }
}
