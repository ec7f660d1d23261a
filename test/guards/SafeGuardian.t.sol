// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Safe} from "@safe-global/safe-contracts/contracts/Safe.sol";
import {SafeProxyFactory} from "@safe-global/safe-contracts/contracts/proxies/SafeProxyFactory.sol";
import {SafeProxy} from "@safe-global/safe-contracts/contracts/proxies/SafeProxy.sol";
import {Enum} from "@safe-global/safe-contracts/contracts/common/Enum.sol";
import {OracleGuard} from "../../contracts/guards/OracleGuard.sol";
import {GuardAccess} from "../../contracts/guards/GuardAccess.sol";
import {BastionTimelock} from "../../contracts/governance/BastionTimelock.sol";
import {MockAggregator} from "../../contracts/world/MockAggregator.sol";
import {CallTarget} from "../mocks/CallTarget.sol";

/// A real Safe 1.4.1 (singleton + proxy factory), 3 owners, threshold 2, as the guardian of
/// OracleGuard (forced reduce-only) and the canceller of BastionTimelock. Actions go through
/// execTransaction with owner signatures made by vm.sign.
contract SafeGuardianTest is Test {
    Safe internal safe;
    OracleGuard internal og;
    BastionTimelock internal tl;
    MockAggregator internal feed;
    CallTarget internal target;

    uint256[3] internal keys;
    address[3] internal owners;
    address internal gov = makeAddr("governance");
    address internal proposer = makeAddr("proposer");
    bytes32 internal constant ETH = "ETH-PERP";

    function setUp() public {
        vm.warp(1_700_000_000);
        for (uint256 i; i < 3; i++) {
            (owners[i], keys[i]) = makeAddrAndKey(string(abi.encodePacked("owner", vm.toString(i))));
        }
        Safe singleton = new Safe();
        SafeProxyFactory factory = new SafeProxyFactory();
        address[] memory ownerList = new address[](3);
        for (uint256 i; i < 3; i++) {
            ownerList[i] = owners[i];
        }
        bytes memory init =
            abi.encodeCall(Safe.setup, (ownerList, 2, address(0), "", address(0), address(0), 0, payable(address(0))));
        SafeProxy proxy = factory.createProxyWithNonce(address(singleton), init, 1);
        safe = Safe(payable(address(proxy)));

        og = new OracleGuard(gov, address(safe));
        feed = new MockAggregator(8, "ETH / USD", address(this));
        feed.setAnswer(2000e8);
        OracleGuard.FeedConfig memory c;
        c.primary = address(feed);
        c.primaryHeartbeat = 1 hours;
        c.maxJumpBps = 1000;
        c.jumpInterval = 1 hours;
        c.jumpCooldown = 15 minutes;
        vm.prank(gov);
        og.setMarket(ETH, c);

        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        tl = new BastionTimelock(48 hours, proposers, executors, address(safe), address(0), new GuardAccess[](0));
        target = new CallTarget();
    }

    // ------------------------------------------------------------ helpers

    /// Signatures of `signers` (indexes into owners/keys) over the Safe tx hash, sorted by owner address.
    function _sign(bytes32 txHash, uint256[] memory signers) internal view returns (bytes memory sigs) {
        uint256 n = signers.length;
        for (uint256 i; i < n; i++) {
            for (uint256 j = i + 1; j < n; j++) {
                if (owners[signers[j]] < owners[signers[i]]) (signers[i], signers[j]) = (signers[j], signers[i]);
            }
        }
        for (uint256 i; i < n; i++) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[signers[i]], txHash);
            sigs = abi.encodePacked(sigs, r, s, v);
        }
    }

    function _txHash(address to, bytes memory data) internal view returns (bytes32) {
        return safe.getTransactionHash(
            to, 0, data, Enum.Operation.Call, 0, 0, 0, address(0), payable(address(0)), safe.nonce()
        );
    }

    function _exec(address to, bytes memory data, bytes memory sigs) internal returns (bool) {
        return safe.execTransaction(to, 0, data, Enum.Operation.Call, 0, 0, 0, address(0), payable(address(0)), sigs);
    }

    function _signers(uint256 a, uint256 b) internal pure returns (uint256[] memory s) {
        s = new uint256[](2);
        s[0] = a;
        s[1] = b;
    }

    // ------------------------------------------------------------ tests

    function test_safeIsConfigured() public view {
        assertEq(safe.getThreshold(), 2);
        assertEq(safe.getOwners().length, 3);
        assertEq(og.guardian(), address(safe));
        assertTrue(tl.hasRole(tl.CANCELLER_ROLE(), address(safe)));
    }

    function test_twoOfThreeForcesReduceOnly() public {
        bytes memory data = abi.encodeCall(OracleGuard.forceReduceOnly, (ETH, 6 hours));
        bytes memory sigs = _sign(_txHash(address(og), data), _signers(2, 0));
        vm.expectEmit(true, true, false, true, address(og));
        emit OracleGuard.ReduceOnlyForced(ETH, block.timestamp + 6 hours, address(safe));
        assertTrue(_exec(address(og), data, sigs));
        (, bool ro) = og.checkedPrice(ETH);
        assertTrue(ro);
        assertEq(safe.nonce(), 1);
    }

    function test_oneOfThreeCannotAct() public {
        bytes memory data = abi.encodeCall(OracleGuard.forceReduceOnly, (ETH, 6 hours));
        bytes32 h = _txHash(address(og), data);
        uint256[] memory one = new uint256[](1);
        one[0] = 1;
        bytes memory sigs = _sign(h, one);
        vm.expectRevert(bytes("GS020")); // signatures too short for the threshold
        _exec(address(og), data, sigs);
        (, bool ro) = og.checkedPrice(ETH);
        assertFalse(ro);
    }

    function test_oneOwnerSigningTwiceCannotAct() public {
        bytes memory data = abi.encodeCall(OracleGuard.forceReduceOnly, (ETH, 6 hours));
        bytes32 h = _txHash(address(og), data);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], h);
        bytes memory sigs = abi.encodePacked(r, s, v, r, s, v);
        vm.expectRevert(bytes("GS026")); // owners must be distinct and ascending
        _exec(address(og), data, sigs);
    }

    function test_strangerSignatureDoesNotCount() public {
        bytes memory data = abi.encodeCall(OracleGuard.forceReduceOnly, (ETH, 6 hours));
        bytes32 h = _txHash(address(og), data);
        (address mallory, uint256 mk) = makeAddrAndKey("mallory");
        (uint8 v0, bytes32 r0, bytes32 s0) = vm.sign(keys[0], h);
        (uint8 v1, bytes32 r1, bytes32 s1) = vm.sign(mk, h);
        bytes memory sigs =
            mallory < owners[0] ? abi.encodePacked(r1, s1, v1, r0, s0, v0) : abi.encodePacked(r0, s0, v0, r1, s1, v1);
        vm.expectRevert(bytes("GS026"));
        _exec(address(og), data, sigs);
    }

    function test_safeCannotExceedGuardianBound() public {
        // The Safe is only the guardian: a 2-of-3 asking for more than a day fails inside the guard.
        bytes memory data = abi.encodeCall(OracleGuard.forceReduceOnly, (ETH, 2 days));
        bytes memory sigs = _sign(_txHash(address(og), data), _signers(0, 1));
        vm.expectRevert(bytes("GS013")); // inner call failed with safeTxGas = 0 and gasPrice = 0
        _exec(address(og), data, sigs);
        // ... and it has no governance power at all.
        data = abi.encodeCall(OracleGuard.liftReduceOnly, (ETH));
        sigs = _sign(_txHash(address(og), data), _signers(0, 1));
        vm.expectRevert(bytes("GS013"));
        _exec(address(og), data, sigs);
    }

    function test_twoOfThreeCancelsTimelockedOperation() public {
        bytes memory call = abi.encodeCall(CallTarget.ping, (42));
        vm.prank(proposer);
        tl.schedule(address(target), 0, call, bytes32(0), bytes32(0), 48 hours);
        bytes32 id = tl.hashOperation(address(target), 0, call, bytes32(0), bytes32(0));
        assertTrue(tl.isOperationPending(id));

        bytes memory data = abi.encodeCall(BastionTimelock.cancel, (id));
        bytes memory sigs = _sign(_txHash(address(tl), data), _signers(1, 2));
        assertTrue(_exec(address(tl), data, sigs));
        assertFalse(tl.isOperation(id));
        vm.warp(block.timestamp + 48 hours);
        vm.expectRevert();
        tl.execute(address(target), 0, call, bytes32(0), bytes32(0));
        assertEq(target.calls(), 0);
    }
}
