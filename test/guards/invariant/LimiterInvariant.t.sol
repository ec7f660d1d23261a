// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {OutflowLimiter} from "../../../contracts/guards/OutflowLimiter.sol";
import {LimiterHarness} from "../harness/LimiterHarness.sol";

/// @notice Drives one DELAYED-mode asset with random deposits, withdrawals (up to the whole tracked
///         liquidity, queued claims included, so over-queueing is tried), flash round trips, claims,
///         settlements, governance parameter changes (limit and inflow credit), early clears and
///         extensions of trips, and time; keeps a ledger of what the limiter let out (paid-now outflows
///         and claim releases) and of inflows, to check the documented window bound after every step.
contract LimiterHandler is Test {
    LimiterHarness public lim;
    address public constant A = address(0xA11CE);
    address public constant B = address(0xB0B);
    uint256 public constant W = 6 hours;
    address[3] internal users = [address(0x1001), address(0x1002), address(0x1003)];

    struct Entry {
        uint64 t;
        bool out;
        uint256 amount;
        uint256 lim; // max of L before and after the step
        uint256 credit; // inflow credit cap at that step: L >> creditShift (none for shift 3)
    }

    Entry[] internal ledger;
    uint256 public maxExcess; // worst (net outflow - bound) seen; 0 if the bound always held
    bool public flashGained;
    uint256 public flashes;
    uint256 public trips;
    uint256 public releasedSeen;
    uint256 public inflowTotal;
    uint256 public paidNowTotal;
    uint8 public creditShift; // current parameter
    uint256 public paramChanges;
    uint256 public overrides;
    uint256 public extensions;
    /// @dev A settle path (claim, release, parameter change) reverted for a reason other than "nothing to do".
    bool public settleBricked;

    constructor() {
        lim = new LimiterHarness(address(this), address(this));
        OutflowLimiter.AssetConfig memory c = OutflowLimiter.AssetConfig({
            limitBps: 1_000,
            window: uint32(W),
            floor: 10e18,
            cooldown: 2 hours,
            mode: OutflowLimiter.Mode.DELAYED,
            creditShift: 0
        });
        lim.register(A, c, 10_000e18);
        c.mode = OutflowLimiter.Mode.REVERT;
        lim.register(B, c, 10_000e18);
    }

    function _released() internal view returns (uint256 r) {
        (, r) = lim.queueInfo(A);
    }

    function _record(bool out, uint256 amount, uint256 limBefore) internal {
        if (amount == 0) return;
        uint256 l = lim.currentLimit(A);
        if (limBefore > l) l = limBefore;
        ledger.push(Entry(uint64(block.timestamp), out, amount, l, creditShift < 3 ? l >> creditShift : 0));
        if (out) _checkWindows();
    }

    /// @dev Every window ending now and starting at an earlier outflow (those maximise the net):
    ///      net outflow <= (Lmax + credit) + Lmax * T / W, the documented bound (credit = L >> creditShift).
    function _checkWindows() internal {
        uint256 n = ledger.length;
        uint256 t = ledger[n - 1].t;
        int256 net;
        uint256 lmax;
        uint256 cmax;
        for (uint256 k = n; k > 0 && n - k < 96; --k) {
            Entry storage e = ledger[k - 1];
            if (t - e.t > 3 * W) break;
            net += e.out ? int256(e.amount) : -int256(e.amount);
            if (e.lim > lmax) lmax = e.lim;
            if (e.credit > cmax) cmax = e.credit;
            if (!e.out || net <= 0) continue;
            uint256 bound = lmax + cmax + (lmax * (t - e.t)) / W + n; // + n wei of rounding slack
            if (uint256(net) > bound && uint256(net) - bound > maxExcess) maxExcess = uint256(net) - bound;
        }
    }

    function deposit(uint256 amt) external {
        uint256 l0 = lim.currentLimit(A);
        amt = bound(amt, 1, 5 * l0);
        lim.inflow(A, amt);
        inflowTotal += amt;
        _record(false, amt, l0);
    }

    function withdraw(uint256 amt, uint256 who) external {
        uint256 liq = lim.trackedLiquidity(A);
        (, uint256 r0) = lim.queueInfo(A);
        if (liq == 0) return;
        uint256 l0 = lim.currentLimit(A);
        // Up to the whole tracked liquidity: what is already promised to claims is the limiter's to refuse.
        amt = bound(amt, 1, liq < 3 * l0 ? liq : 3 * l0);
        bool wasTripped = lim.isRateLimitTriggered(A);
        bool paid;
        try lim.outflow(A, users[who % 3], amt) returns (bool p) {
            paid = p;
        } catch {
            return;
        }
        if (!wasTripped && lim.isRateLimitTriggered(A)) ++trips;
        uint256 rel = _released() - r0;
        releasedSeen += rel;
        if (paid) paidNowTotal += amt;
        _record(true, (paid ? amt : 0) + rel, l0);
    }

    /// @dev Flash round trips run on a second asset, B, in REVERT mode (no trips, so the headroom view is
    ///      always meaningful), with its own random deposits and withdrawals.
    function flash(uint256 amt) external {
        uint256 l0 = lim.currentLimit(B);
        amt = bound(amt, 1, 3 * l0);
        uint256 before = lim.headroom(B);
        try lim.flash(B, users[0], amt) returns (bool) {
            ++flashes;
            if (lim.headroom(B) > before) flashGained = true;
        } catch {}
    }

    function depositB(uint256 amt) external {
        lim.inflow(B, bound(amt, 1, 3 * lim.currentLimit(B)));
    }

    function withdrawB(uint256 amt) external {
        uint256 h = lim.headroom(B);
        if (h == 0) return;
        lim.outflow(B, users[1], bound(amt, 1, h));
    }

    function claim(uint256 who) external {
        address u = users[who % 3];
        if (lim.lockedFunds(u, A) == 0) return;
        uint256 r0 = _released();
        uint256 l0 = lim.currentLimit(A);
        try lim.claimLockedFunds(A, u) {}
        catch {
            settleBricked = true;
            return;
        }
        uint256 rel = _released() - r0;
        releasedSeen += rel;
        _record(true, rel, l0);
    }

    function settle() external {
        uint256 r0 = _released();
        uint256 l0 = lim.currentLimit(A);
        try lim.releaseLockedFunds(A) {}
        catch {
            settleBricked = true;
            return;
        }
        uint256 rel = _released() - r0;
        releasedSeen += rel;
        _record(true, rel, l0);
    }

    /// @dev Governance changes the limit and the inflow credit (window, floor, cooldown and mode kept, so
    ///      the ledger's bound stays comparable).
    function setParams(uint256 bps, uint256 shift) external {
        OutflowLimiter.AssetConfig memory c = OutflowLimiter.AssetConfig({
            limitBps: uint16(bound(bps, 200, 3_000)),
            window: uint32(W),
            floor: 10e18,
            cooldown: 2 hours,
            mode: OutflowLimiter.Mode.DELAYED,
            creditShift: uint8(shift % 4)
        });
        uint256 r0 = _released();
        uint256 l0 = lim.currentLimit(A);
        // The credit cap of the old parameters applies up to this step: record it first.
        try lim.updateAssetParams(A, c) {}
        catch {
            settleBricked = true;
            return;
        }
        ++paramChanges;
        uint256 rel = _released() - r0;
        releasedSeen += rel;
        _record(true, rel, l0);
        creditShift = c.creditShift;
    }

    function overrideTrip() external {
        if (!lim.isRateLimitTriggered(A)) return;
        lim.overrideRateLimit(A);
        ++overrides;
    }

    function extendTrip(uint256 dt) external {
        (uint256 until,) = lim.tripInfo(A);
        if (until <= block.timestamp) return;
        lim.extendRateLimit(A, until + bound(dt, 1, 1 days));
        ++extensions;
    }

    function warp(uint256 dt) external {
        skip(bound(dt, 1, 2 * W));
    }

    function claimsOutstanding() external view returns (uint256 sum) {
        for (uint256 i; i < 3; ++i) {
            sum += lim.lockedFunds(users[i], A);
        }
    }

    function paidClaims() external view returns (uint256 sum) {
        for (uint256 i; i < 3; ++i) {
            sum += lim.paid(A, users[i]);
        }
    }
}

contract LimiterInvariantTest is Test {
    LimiterHandler internal h;

    function setUp() public {
        vm.warp(1_750_000_000);
        h = new LimiterHandler();
        targetContract(address(h));
    }

    /// @notice Over any window, net outflow stays within Lmax * (2 + T/W) (the documented worst case of
    ///         the one-slot bucket with full inflow credit), and a flash round trip never gains headroom.
    function invariant_windowBoundAndFlashNeverGains() public view {
        assertFalse(h.settleBricked(), "a settle path of the asset reverted");
        assertEq(h.maxExcess(), 0, "net outflow exceeded the documented bound");
        assertFalse(h.flashGained(), "a flash deposit+withdraw raised the headroom");
    }

    /// @notice Books balance: tracked liquidity = start + inflows - paid now - released claims, and every
    ///         queued amount is either still claimable or paid (claims are never lost).
    function invariant_accountingAndClaimsNeverLost() public view {
        LimiterHarness lim = h.lim();
        address a = h.A();
        assertEq(lim.trackedLiquidity(a), 10_000e18 + h.inflowTotal() - h.paidNowTotal() - h.releasedSeen());
        (uint256 queued, uint256 released) = lim.queueInfo(a);
        assertLe(released, queued);
        // What is promised to queued claims is still held: every claim can be paid.
        assertLe(queued - released, lim.trackedLiquidity(a), "claims queued beyond the liquidity");
        assertEq(h.claimsOutstanding() + h.paidClaims(), queued);
        assertLe(h.paidClaims(), released);
    }
}
