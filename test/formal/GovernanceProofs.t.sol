// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";

/// @notice The smallest GuardAccess contract: the two roles and nothing else.
contract Governed is GuardAccess {
    constructor(address governance_, address guardian_) GuardAccess(governance_, guardian_) {}
}

/// @notice Halmos proof (`make proofs`) that governance of a guard passes only in two steps (the info row
///         of audit issue 11): whatever the callers, calls and arguments, the role changes hands only when
///         the address governance proposed calls `acceptGovernance` itself, so a mistyped or unreachable
///         address never takes it; it is never dropped; only governance proposes or changes the guardian.
///         Bounded: two calls, each any of `transferGovernance`, `acceptGovernance`, `setGuardian`, by
///         anyone; the first reaches every proposal, so the second is checked from any pending address
///         (three calls also pass, in ~45 s instead of ~2 s).
contract GovernanceProofs is Test {
    Governed internal g;

    function setUp() public {
        g = new Governed(address(0x60F), address(0x6A4D));
    }

    function _call(address caller, uint8 op, address arg) internal {
        address gov = g.governance();
        address pending = g.pendingGovernance();
        address guardian = g.guardian();
        vm.prank(caller);
        if (op == 0) {
            try g.transferGovernance(arg) {} catch {}
        } else if (op == 1) {
            try g.acceptGovernance() {} catch {}
        } else {
            try g.setGuardian(arg) {} catch {}
        }
        address govAfter = g.governance();
        address pendingAfter = g.pendingGovernance();
        assert(govAfter != address(0));
        if (govAfter != gov) {
            // Only by acceptance, by the proposed address itself, which consumes the proposal.
            assert(op == 1 && caller == govAfter && pending == govAfter && pendingAfter == address(0));
        }
        if (pendingAfter != pending) assert(caller == gov || (caller == pending && pendingAfter == address(0)));
        if (g.guardian() != guardian) assert(caller == gov);
    }

    function check_governancePassesOnlyToTheProposedAddressWhenItAccepts(
        address[2] calldata callers,
        uint8[2] calldata ops,
        address[2] calldata args
    ) public {
        _call(callers[0], ops[0], args[0]);
        _call(callers[1], ops[1], args[1]);
    }
}
