// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {InvariantMock, Batch} from "../harness/InvariantMock.sol";

/// @notice Random guarded calls, nested to random depths, some breaking the mock's solvency invariant at
///         random levels, some grouped in one transaction.
contract TxGuardHandler is Test {
    InvariantMock public m;
    Batch internal batch;
    uint256 public wrongCheckCount;
    uint256 public partialEffects;
    uint256 public reverted;
    uint256 public passed;

    constructor() {
        m = new InvariantMock(IERC20(address(0)), 0);
        batch = new Batch();
        m.fund(1_000);
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
}
