// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {TxInvariantGuard} from "../../contracts/guards/TxInvariantGuard.sol";
import {InvariantMock, Batch} from "./harness/InvariantMock.sol";

contract TxInvariantGuardTest is Test {
    InvariantMock internal m;
    MintableToken internal token;
    Batch internal batch;

    function setUp() public {
        token = new MintableToken("T", "T", 18, address(this));
        m = new InvariantMock(IERC20(address(token)), 2_000);
        batch = new Batch();
        token.mint(address(m), 1_000e18);
        m.fund(1_000);
    }

    function _violated(bytes32 id) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(TxInvariantGuard.InvariantViolated.selector, id);
    }

    function test_checkedAtExit_snapshotAtEntry() public {
        uint256 checks = m.checks();
        vm.expectRevert(_violated("drawdown"));
        m.drain(501); // more than half of the reserves at entry
        m.drain(500);
        assertEq(m.checks(), checks + 1);
        m.borrow(500);
        vm.expectRevert(_violated("solvent"));
        m.borrow(1);
        assertEq(m.reserves(), 500);
        assertEq(m.debt(), 500);
        assertEq(m.depth(), 0);
    }

    function test_nestedCalls_checkedOnceAtOutermostExit() public {
        uint256 checks = m.checks();
        uint256 snaps = m.snapshots();
        m.nest(5, type(uint256).max, type(uint256).max);
        assertEq(m.maxDepth(), 6);
        assertEq(m.checks(), checks + 1);
        assertEq(m.snapshots(), snaps + 1);
    }

    function test_innerBreakRepairedBeforeExit_passes() public {
        m.borrow(1_000); // debt == reserves
        m.breakThenRepair(); // inner borrow leaves debt > reserves until the inner fund
        assertEq(m.debt(), 1_100);
        assertEq(m.reserves(), 1_100);
    }

    function test_violation_revertsWholeTransaction() public {
        bytes[] memory calls = new bytes[](3);
        calls[0] = abi.encodeCall(InvariantMock.fund, (50));
        calls[1] = abi.encodeCall(InvariantMock.borrow, (40));
        calls[2] = abi.encodeCall(InvariantMock.borrow, (2_000));
        vm.expectRevert(_violated("solvent"));
        batch.run(address(m), calls);
        assertEq(m.reserves(), 1_000, "earlier calls of the transaction are undone too");
        assertEq(m.debt(), 0);
        calls[2] = abi.encodeCall(InvariantMock.borrow, (10));
        batch.run(address(m), calls);
        assertEq(m.debt(), 50);
    }

    function testFuzz_nesting(uint8 depth, uint8 borrowAt, uint8 fundAt) public {
        depth = uint8(bound(depth, 0, 8));
        uint256 checks = m.checks();
        m.borrow(1_000); // fully lent: any extra borrow needs the extra funding
        bool borrows = borrowAt <= depth;
        bool funds = fundAt <= depth;
        if (borrows && !funds) {
            vm.expectRevert(_violated("solvent"));
            m.nest(depth, borrowAt, fundAt);
            assertEq(m.checks(), checks + 1);
        } else {
            m.nest(depth, borrowAt, fundAt);
            assertEq(m.checks(), checks + 2, "one check per outermost call, whatever the nesting");
        }
        assertEq(m.depth(), 0);
    }

    function test_txOutflowCap_perTransaction() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                TxInvariantGuard.TxOutflowExceeded.selector, address(token), 1_000e18, 790e18, 200e18
            )
        );
        m.send(address(1), 210e18);
        bytes[] memory calls = new bytes[](2);
        calls[0] = abi.encodeCall(InvariantMock.send, (address(1), 150e18));
        calls[1] = abi.encodeCall(InvariantMock.send, (address(1), 60e18));
        // Splitting into two top-level calls of one transaction does not escape the cap.
        vm.expectRevert(
            abi.encodeWithSelector(
                TxInvariantGuard.TxOutflowExceeded.selector, address(token), 1_000e18, 790e18, 200e18
            )
        );
        batch.run(address(m), calls);
        calls[1] = abi.encodeCall(InvariantMock.send, (address(1), 50e18));
        batch.run(address(m), calls);
        assertEq(token.balanceOf(address(1)), 200e18);
    }
}
