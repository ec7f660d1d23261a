// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Fixtures for the watchtower's Python tests (tests/watch): a drainable vault with a guardian's
// scoped pause, an attacker contract, and build artifacts for OpenZeppelin's TimelockController
// and Safe 1.4.1. Test-only: nothing here is part of the protocol.

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Safe} from "@safe-global/safe-contracts/contracts/Safe.sol";
import {SafeProxy} from "@safe-global/safe-contracts/contracts/proxies/SafeProxy.sol";

/// @title WatchVault
/// @notice A token vault with a deliberately unguarded withdraw (the exploit target) and a guardian
///         who can pause it per scope and tighten its limit.
contract WatchVault {
    bytes32 public constant WITHDRAW = keccak256("withdraw");

    address public immutable guardian;
    uint256 public limit;
    mapping(bytes32 scope => bool) public paused;

    event Paused(bytes32 indexed scope, address indexed by);
    event LimitSet(uint256 limit);
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error NotGuardian();
    error ScopePaused(bytes32 scope);

    /// @param guardian_ The account allowed to pause and tighten.
    /// @param limit_ Initial limit (informational).
    constructor(address guardian_, uint256 limit_) {
        guardian = guardian_;
        limit = limit_;
    }

    /// @notice Send `amount` of `token` to `to`. Anyone may call it: that is the bug under watch.
    /// @param token The token.
    /// @param to Recipient.
    /// @param amount Amount in base units.
    function withdraw(IERC20 token, address to, uint256 amount) external {
        if (paused[WITHDRAW]) revert ScopePaused(WITHDRAW);
        emit Withdrawn(address(token), to, amount);
        require(token.transfer(to, amount), "transfer failed");
    }

    /// @notice Pause one scope.
    /// @param scope The scope id, e.g. keccak256("withdraw").
    function pause(bytes32 scope) external {
        if (msg.sender != guardian) revert NotGuardian();
        paused[scope] = true;
        emit Paused(scope, msg.sender);
    }

    /// @notice Set the limit.
    /// @param limit_ New limit.
    function setLimit(uint256 limit_) external {
        if (msg.sender != guardian) revert NotGuardian();
        limit = limit_;
        emit LimitSet(limit_);
    }
}

/// @title WatchAttacker
/// @notice Drains a WatchVault through its unguarded withdraw, from a fresh contract.
contract WatchAttacker {
    /// @notice Withdraw `amount` of `token` from `vault` to the caller.
    /// @param vault The vault.
    /// @param token The token.
    /// @param amount Amount in base units.
    function drain(WatchVault vault, IERC20 token, uint256 amount) external {
        vault.withdraw(token, msg.sender, amount);
    }
}

/// @title WatchArtifacts
/// @notice Makes forge emit artifacts for TimelockController, Safe and SafeProxy.
abstract contract WatchArtifacts {
    TimelockController internal _timelock;
    Safe internal _safe;
    SafeProxy internal _proxy;
}

/// @title WatchLogger
/// @notice Emits arbitrary logs, to feed the watchtower undecodable ones.
contract WatchLogger {
    /// @notice Emit a log with three topics and raw data.
    /// @param t0 First topic (the event signature for a decodable log).
    /// @param t1 Second topic.
    /// @param t2 Third topic.
    /// @param data Raw data.
    function emitRaw(bytes32 t0, bytes32 t1, bytes32 t2, bytes calldata data) external {
        bytes memory d = data;
        assembly ("memory-safe") {
            log3(add(d, 32), mload(d), t0, t1, t2)
        }
    }
}

/// @title PoolManipulator
/// @notice The flash-loan pattern in one transaction, for the price-manipulation detector's tests: buy
///         the base token on a pool (the spot jumps), call a target (the protocol), sell it back.
contract PoolManipulator {
    /// @notice Swap `quoteIn` of the pool's quote token in, call `target` with `data`, swap back.
    /// @dev Holds the quote tokens it spends (mint them to this contract first).
    function swapCallSwap(IPoolLike pool, uint256 quoteIn, address target, bytes calldata data) external {
        IERC20 base = pool.token0();
        IERC20 quote = pool.token1();
        uint256 baseOut = pool.getAmountOut(quoteIn, false);
        require(quote.transfer(address(pool), quoteIn), "quote transfer");
        pool.swap(baseOut, 0, address(this), "");
        if (target != address(0)) {
            (bool ok,) = target.call(data);
            require(ok, "target call");
        }
        uint256 quoteBack = pool.getAmountOut(baseOut, true);
        require(base.transfer(address(pool), baseOut), "base transfer");
        pool.swap(0, quoteBack, address(this), "");
    }
}

/// @notice The part of ConstantProductPool the manipulator uses.
interface IPoolLike {
    function token0() external view returns (IERC20);
    function token1() external view returns (IERC20);
    function getAmountOut(uint256 amountIn, bool zeroForOne) external view returns (uint256);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}
