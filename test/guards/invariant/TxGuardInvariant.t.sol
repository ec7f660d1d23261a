// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {InvariantMock, Batch} from "../harness/InvariantMock.sol";
import {MintableToken} from "../../../contracts/world/MintableToken.sol";

/// @notice Random guarded calls, nested to random depths, some breaking the mock's solvency invariant at
///         random levels, some grouped in one transaction; and, on a second mock that tracks a real token
///         with a 10% per-transaction outflow bound, random batches of transfers out in one transaction,
///         judged against the bound computed here from the balance before the batch.
contract TxGuardHandler is Test {
    InvariantMock public m;
    Batch internal batch;
    uint256 public wrongCheckCount;
    uint256 public partialEffects;
    uint256 public reverted;
    uint256 public passed;

    InvariantMock public t; // tracks `token`, 10% per transaction
    MintableToken public token;
    uint256 public constant OUT_BPS = 1_000;
    uint256 public outflowBeyondBound; // a batch took more than 10% of the start balance and went through
    uint256 public refusedWithinBound; // a batch within the bound was refused
    uint256 public outflowBatches;

    constructor() {
        m = new InvariantMock(IERC20(address(0)), 0);
        batch = new Batch();
        m.fund(1_000);
        token = new MintableToken("Token", "TKN", 18, address(this));
        t = new InvariantMock(IERC20(address(token)), OUT_BPS);
        token.mint(address(t), 1_000_000e18);
    }

    /// @dev One transaction: up to five transfers out, each an outermost guarded call.
    function sendBatch(uint256 parts, uint256 seed) external {
        parts = bound(parts, 1, 5);
        uint256 start = token.balanceOf(address(t));
        bytes[] memory calls = new bytes[](parts);
        uint256 total;
        for (uint256 i; i < parts; ++i) {
            uint256 amount = bound(uint256(keccak256(abi.encode(seed, i))), 0, start * 6 / 100);
            total += amount;
            calls[i] = abi.encodeCall(InvariantMock.send, (address(0xBEEF), amount));
        }
        bool within = total * 10_000 <= start * OUT_BPS;
        ++outflowBatches;
        try batch.run(address(t), calls) {
            if (!within) ++outflowBeyondBound;
        } catch {
            if (within) ++refusedWithinBound;
        }
    }

    function refill(uint256 x) external {
        token.mint(address(t), bound(x, 0, 100_000e18));
    }

    function nest(uint8 depth, uint8 borrowAt, uint8 fundAt) external {
        uint256 r0 = m.reserves();
        uint256 d0 = m.debt();
        uint256 c0 = m.checks();
        try m.nest(bound(depth, 0, 6), borrowAt % 8, fundAt % 8) {
            ++passed;
            if (m.checks() != c0 + 1) ++wrongCheckCount;
        } catch {
            ++reverted;
            if (m.reserves() != r0 || m.debt() != d0 || m.checks() != c0) ++partialEffects;
        }
    }

    function borrow(uint256 x) external {
        try m.borrow(bound(x, 0, 300)) {} catch {}
    }

    function fund(uint256 x) external {
        m.fund(bound(x, 0, 300));
    }

    /// @dev Several top-level calls in one transaction; if any breaks the invariant, none takes effect.
    function batchOf(uint256 a, uint256 b) external {
        uint256 r0 = m.reserves();
        uint256 d0 = m.debt();
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(InvariantMock.fund, (bound(a, 0, 100)));
        calls[1] = abi.encodeCall(InvariantMock.borrow, (bound(b, 0, 400)));
        try batch.run(address(m), calls) {
            ++passed;
        } catch {
            ++reverted;
            if (m.reserves() != r0 || m.debt() != d0) ++partialEffects;
        }
    }
}

contract TxGuardInvariantTest is Test {
    TxGuardHandler internal h;

    function setUp() public {
        h = new TxGuardHandler();
        targetContract(address(h));
    }

    /// @notice However deep the nesting, each outermost guarded call is checked exactly once, and a
    ///         violation undoes the whole call tree (and every earlier call of the same transaction).
    function invariant_checkedOnceAndViolationsRevertEverything() public view {
        assertEq(h.wrongCheckCount(), 0);
        assertEq(h.partialEffects(), 0);
        InvariantMock m = h.m();
        assertGe(m.reserves(), m.debt(), "the committed state is always solvent");
        assertEq(m.depth(), 0);
    }

    /// @notice The outflow bound is per transaction: however many calls a batch makes, at most 10% of the
    ///         balance at the transaction's start leaves, and a batch within it is never refused.
    function invariant_outflowBoundPerTransaction() public view {
        assertEq(h.outflowBeyondBound(), 0, "more than the bound left in one transaction");
        assertEq(h.refusedWithinBound(), 0, "a batch within the bound was refused");
    }
}
