// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TxInvariantGuard} from "../../../contracts/guards/TxInvariantGuard.sol";

/// @notice A toy lending book guarded by TxInvariantGuard: reserves must cover debt at the end of every
///         outermost call, and reserves may not halve within one. Counts snapshots and checks.
contract InvariantMock is TxInvariantGuard {
    uint256 public reserves;
    uint256 public debt;
    uint256 public snapshots;
    uint256 public checks;
    uint256 public maxDepth;
    IERC20 public token;
    uint256 public maxTxOutflowBps;

    constructor(IERC20 token_, uint256 maxTxOutflowBps_) {
        token = token_;
        maxTxOutflowBps = maxTxOutflowBps_;
    }

    function fund(uint256 x) external invariantGuarded {
        _note();
        reserves += x;
    }

    function borrow(uint256 x) external invariantGuarded {
        _note();
        debt += x;
    }

    function drain(uint256 x) external invariantGuarded {
        _note();
        reserves -= x;
    }

    /// @dev Re-enters itself through external calls: `depth` nested guarded frames.
    function nest(uint256 depth, uint256 borrowAt, uint256 fundAt) public invariantGuarded {
        _note();
        if (depth == borrowAt) debt += 100;
        if (depth == fundAt) reserves += 100;
        if (depth > 0) this.nest(depth - 1, borrowAt, fundAt);
    }

    /// @dev Breaks the invariant in an inner call and repairs it before the outermost exit.
    function breakThenRepair() external invariantGuarded {
        _note();
        this.borrow(100);
        this.fund(100);
    }

    function send(address to, uint256 amount) external invariantGuarded {
        _note();
        token.transfer(to, amount);
    }

    function depth() external view returns (uint256) {
        return _guardDepth();
    }

    function _note() private {
        uint256 d = _guardDepth();
        if (d > maxDepth) maxDepth = d;
    }

    function _snapshotInvariants() internal override {
        ++snapshots;
        _tsnapshot(0, reserves);
    }

    function _checkInvariants() internal override {
        ++checks;
        _requireInvariant(reserves >= debt, "solvent");
        _requireInvariant(reserves * 2 >= _tsnapshotOf(0), "drawdown");
    }

    function _txOutflowLimit() internal view override returns (address, uint256) {
        return (address(token), maxTxOutflowBps);
    }
}

/// @notice Several top-level calls in ONE transaction.
contract Batch {
    function run(address target, bytes[] calldata calls) external {
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = target.call(calls[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
    }
}
