// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {MintableToken} from "../../../contracts/world/MintableToken.sol";
import {ExampleSettlementVault} from "../../examples/ExampleSettlementVault.sol";

/// Users deposit, withdraw and get robbed; at some point settlement triggers; then users claim
/// (repeatedly, trying to double-claim). Records every payout against the expected pro-rata share.
contract SettlementHandler is Test {
    ExampleSettlementVault public vault;
    MintableToken public token;
    address internal gov;
    address[] public users;

    uint256 public paidSum;
    uint256 public successfulClaims;
    uint256 public wrongPayouts;
    uint256 public doubleClaims;
    mapping(address => uint256) public claimsOf;

    constructor(ExampleSettlementVault vault_, MintableToken token_, address gov_) {
        vault = vault_;
        token = token_;
        gov = gov_;
        for (uint256 i; i < 5; i++) {
            users.push(makeAddr(string(abi.encodePacked("user", vm.toString(i)))));
        }
    }

    function _user(uint256 seed) internal view returns (address) {
        return users[seed % users.length];
    }

    function deposit(uint256 who, uint256 amount) external {
        if (vault.settled()) return;
        address u = _user(who);
        amount = bound(amount, 1, 1e30);
        token.mint(u, amount);
        vm.startPrank(u);
        token.approve(address(vault), amount);
        vault.deposit(amount);
        vm.stopPrank();
    }

    function withdraw(uint256 who, uint256 amount) external {
        if (vault.settled()) return;
        address u = _user(who);
        uint256 d = vault.deposits(u);
        if (d == 0 || token.balanceOf(address(vault)) == 0) return;
        amount = bound(amount, 1, d);
        if (amount > token.balanceOf(address(vault))) return;
        vm.prank(u);
        vault.withdraw(amount);
    }

    function steal(uint256 amount) external {
        if (vault.settled()) return;
        uint256 bal = token.balanceOf(address(vault));
        if (bal == 0) return;
        amount = bound(amount, 1, bal);
        vm.prank(address(vault));
        token.transfer(address(0xbad), amount);
    }

    function trigger(uint256 who) external {
        if (vault.settled()) return;
        address caller = who % 3 == 0 ? gov : _user(who); // users succeed only when insolvent
        vm.prank(caller);
        try vault.triggerSettlement() {} catch {}
    }

    function claim(uint256 who) external {
        if (!vault.settled()) return;
        address u = _user(who);
        uint256 claimAmt = vault.deposits(u);
        uint256 pool = vault.settlementPool();
        uint256 total = vault.totalClaims();
        vm.prank(u);
        try vault.claimSettlement() returns (uint256 paid) {
            successfulClaims++;
            claimsOf[u]++;
            if (claimsOf[u] > 1) doubleClaims++;
            uint256 expected = pool >= total ? claimAmt : claimAmt * pool / total;
            if (paid != expected) wrongPayouts++;
            paidSum += paid;
        } catch {}
    }
}

contract SettlementInvariantTest is StdInvariant, Test {
    SettlementHandler internal handler;
    ExampleSettlementVault internal vault;
    MintableToken internal token;

    function setUp() public {
        address gov = makeAddr("governance");
        token = new MintableToken("USD Coin", "USDC", 6, address(this));
        vault = new ExampleSettlementVault(token, gov, address(0));
        handler = new SettlementHandler(vault, token, gov);
        token.transferOwnership(address(handler));
        targetContract(address(handler));
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_payoutsNeverExceedPool() public view {
        assertLe(vault.paidTotal(), vault.settlementPool());
        assertEq(vault.paidTotal(), handler.paidSum());
        if (vault.settled()) {
            assertEq(token.balanceOf(address(vault)), vault.settlementPool() - vault.paidTotal());
        }
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_eachPayoutIsTheShareAndOnce() public view {
        assertEq(handler.wrongPayouts(), 0, "a payout differs from claim * min(1, pool/claims)");
        assertEq(handler.doubleClaims(), 0, "someone claimed twice");
        assertLe(vault.claimedTotal(), vault.totalClaims());
    }
}
