// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {MintableToken} from "../../../contracts/world/MintableToken.sol";
import {ExampleSettlementVault} from "../../examples/ExampleSettlementVault.sol";
import {TallyLedger} from "../../mocks/TallyLedger.sol";

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

/// Tally mode: equities change, the pool is funded or robbed; after the trigger, random (overlapping)
/// batches are tallied and users claim at random, also before the tally is complete.
contract TallyHandler is Test {
    TallyLedger public ledger;
    MintableToken public token;
    address internal gov;
    address[] public users;

    uint256 public paidSum;
    uint256 public wrongPayouts;
    uint256 public doubleClaims;
    uint256 public earlyClaims;
    uint256 public successfulClaims;
    mapping(address => uint256) public claimsOf;

    constructor(TallyLedger ledger_, MintableToken token_, address gov_) {
        ledger = ledger_;
        token = token_;
        gov = gov_;
        for (uint256 i; i < 6; i++) {
            users.push(makeAddr(string(abi.encodePacked("tallyUser", vm.toString(i)))));
        }
    }

    function _user(uint256 seed) internal view returns (address) {
        return users[seed % users.length];
    }

    function setEquity(uint256 who, int256 equity) external {
        if (ledger.settled()) return;
        ledger.setEquity(_user(who), bound(equity, -1e30, 1e30));
    }

    function fund(uint256 amount) external {
        if (ledger.settled()) return;
        token.mint(address(ledger), bound(amount, 1, 1e30));
    }

    function steal(uint256 amount) external {
        if (ledger.settled()) return;
        uint256 bal = token.balanceOf(address(ledger));
        if (bal == 0) return;
        vm.prank(address(ledger));
        token.transfer(address(0xbad), bound(amount, 1, bal));
    }

    /// @dev Only one call in five triggers, so books usually hold several accounts first.
    function trigger(uint256 dice) external {
        if (ledger.settled() || dice % 5 != 3) return;
        vm.prank(gov);
        ledger.triggerSettlement();
    }

    /// @dev A batch of up to 4 users (strangers included: index 5 may never have an account), repeats allowed.
    function tally(uint256 seed) external {
        if (!ledger.settled()) return;
        address[] memory batch = new address[](seed % 5);
        for (uint256 i; i < batch.length; ++i) {
            batch[i] = _user(uint8(seed >> (8 * (i + 1))));
        }
        ledger.tally(batch);
    }

    function claim(uint256 who) external {
        if (!ledger.settled()) return;
        address u = _user(who);
        bool open = ledger.claimsOpen();
        (uint256 claimAmt,) = ledger.settlementPayoutOf(u);
        uint256 pool = ledger.settlementPool();
        uint256 total = ledger.totalClaims();
        vm.prank(u);
        try ledger.claimSettlement() returns (uint256 paid) {
            successfulClaims++;
            if (!open) earlyClaims++;
            claimsOf[u]++;
            if (claimsOf[u] > 1) doubleClaims++;
            uint256 expected = pool >= total ? claimAmt : claimAmt * pool / total;
            if (paid != expected) wrongPayouts++;
            paidSum += paid;
        } catch {}
    }

    /// @dev Σ max(0, equity) over every account: what the tally must reach.
    function positiveEquity() external view returns (uint256 sum) {
        uint256 n = ledger.accountCount();
        for (uint256 i; i < n; ++i) {
            int256 e = ledger.equityOf(ledger.accounts(i));
            if (e > 0) sum += uint256(e);
        }
    }
}

contract TallySettlementInvariantTest is StdInvariant, Test {
    TallyHandler internal handler;
    TallyLedger internal ledger;
    MintableToken internal token;

    function setUp() public {
        address gov = makeAddr("governance");
        token = new MintableToken("USD Coin", "USDC", 6, address(this));
        ledger = new TallyLedger(token, gov);
        handler = new TallyHandler(ledger, token, gov);
        token.transferOwnership(address(handler));
        targetContract(address(handler));
    }

    /// @dev The handler's paths reach paid claims after batched, overlapping tallies (not a vacuous run).
    function test_tallyHandlerReachesPaidClaims() public {
        handler.setEquity(0, 100e6);
        handler.setEquity(1, 300e6);
        handler.setEquity(2, -5e6);
        handler.fund(200e6);
        handler.trigger(3);
        handler.claim(0); // too early: refused
        handler.tally(2 | (uint256(0) << 8) | (uint256(5) << 16)); // user0 and a stranger
        handler.tally(4 | (uint256(0) << 8) | (uint256(1) << 16) | (uint256(2) << 24) | (uint256(1) << 32));
        assertTrue(ledger.claimsOpen());
        handler.claim(0);
        handler.claim(1);
        handler.claim(1);
        assertEq(handler.successfulClaims(), 2);
        assertEq(handler.paidSum(), 200e6);
        invariant_tallyPayoutsNeverExceedPool();
        invariant_tallyClaimsOpenOnlyWhenCompleteAndPayTheShareOnce();
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_tallyPayoutsNeverExceedPool() public view {
        assertLe(ledger.paidTotal(), ledger.settlementPool());
        assertEq(ledger.paidTotal(), handler.paidSum());
        if (ledger.settled()) {
            assertEq(token.balanceOf(address(ledger)), ledger.settlementPool() - ledger.paidTotal());
        }
    }

    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 64
    function invariant_tallyClaimsOpenOnlyWhenCompleteAndPayTheShareOnce() public view {
        assertEq(handler.earlyClaims(), 0, "a claim was paid before every account was tallied");
        assertEq(handler.wrongPayouts(), 0, "a payout differs from claim * min(1, pool/claims)");
        assertEq(handler.doubleClaims(), 0, "someone claimed twice");
        assertLe(ledger.talliedAccounts(), ledger.claimantCount());
        assertLe(ledger.claimedTotal(), ledger.totalClaims());
        if (ledger.claimsOpen()) assertEq(ledger.totalClaims(), handler.positiveEquity());
    }
}
