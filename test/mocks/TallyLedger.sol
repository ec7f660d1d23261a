// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MintableToken} from "../../contracts/world/MintableToken.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {EmergencySettlement} from "../../contracts/guards/EmergencySettlement.sol";

/// @notice A ledger of signed balances (like a margin book's equities) whose total of claims,
///         Σ max(0, equity), is not known in O(1): it uses EmergencySettlement's tally mode.
contract TallyLedger is EmergencySettlement {
    MintableToken public immutable token;
    mapping(address account => int256) public equityOf;
    mapping(address account => bool) public isAccount;
    address[] public accounts;

    constructor(MintableToken token_, address governance_) GuardAccess(governance_, address(0)) {
        token = token_;
    }

    /// @notice Set `account`'s equity (a stand-in for trading); adds it to the enumeration.
    function setEquity(address account, int256 equity) external whenNotSettled {
        if (!isAccount[account]) {
            isAccount[account] = true;
            accounts.push(account);
        }
        equityOf[account] = equity;
    }

    /// @notice Number of accounts.
    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    function _settlementPool() internal view override returns (uint256) {
        return token.balanceOf(address(this));
    }

    function _totalClaims() internal pure override returns (uint256) {
        return 0; // tally mode: never called
    }

    function _claimOf(address account) internal view override returns (uint256) {
        int256 e = equityOf[account];
        return e > 0 ? uint256(e) : 0;
    }

    function _payout(address to, uint256 amount) internal override {
        token.transfer(to, amount);
    }

    function _needsTally() internal pure override returns (bool) {
        return true;
    }

    function _claimantCount() internal view override returns (uint256) {
        return accounts.length;
    }

    function _isClaimant(address account) internal view override returns (bool) {
        return isAccount[account];
    }
}

/// @notice Turns tally mode on but forgets the account hooks: the trigger must fail loudly.
contract TallyWithoutHooks is EmergencySettlement {
    constructor(address governance_) GuardAccess(governance_, address(0)) {}

    function _settlementPool() internal pure override returns (uint256) {
        return 1;
    }

    function _totalClaims() internal pure override returns (uint256) {
        return 0;
    }

    function _claimOf(address) internal pure override returns (uint256) {
        return 0;
    }

    function _payout(address, uint256) internal override {}

    function _needsTally() internal pure override returns (bool) {
        return true;
    }
}
