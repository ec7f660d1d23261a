// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// A protocol that is not the reference one, for the watchtower's generic-detector test
// (tests/watch/test_third_party.py): an Ownable + AccessControl vault behind a UUPS proxy, governed
// by an OpenZeppelin TimelockController, priced by a Chainlink-style feed, next to a Uniswap-V2-style
// pair. Test-only: nothing here is part of Bastion.

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/// @title TPVault
/// @notice Deposits and withdrawals of one token; owner upgrades, managers pause. Lives behind an ERC1967Proxy.
contract TPVault is UUPSUpgradeable, Ownable, AccessControl, Pausable {
    bytes32 public constant MANAGER_ROLE = keccak256("MANAGER_ROLE");

    IERC20 public asset;
    bool private _initialized;
    mapping(address account => uint256 amount) public balanceOf;

    error AlreadyInitialized();

    /// @dev The implementation itself is owned by its deployer and never initialized.
    constructor() Ownable(msg.sender) {
        _initialized = true;
    }

    /// @notice Set the asset and the owner (who also holds DEFAULT_ADMIN_ROLE), once, through the proxy.
    /// @param asset_ The token held.
    /// @param owner_ The owner and role admin.
    function initialize(IERC20 asset_, address owner_) external {
        if (_initialized) revert AlreadyInitialized();
        _initialized = true;
        asset = asset_;
        _transferOwnership(owner_);
        _grantRole(DEFAULT_ADMIN_ROLE, owner_);
    }

    /// @notice Deposit `amount` (approve first).
    /// @param amount Base units.
    function deposit(uint256 amount) external whenNotPaused {
        balanceOf[msg.sender] += amount;
        require(asset.transferFrom(msg.sender, address(this), amount), "transferFrom");
    }

    /// @notice Withdraw `amount` of the caller's deposit.
    /// @param amount Base units.
    function withdraw(uint256 amount) external whenNotPaused {
        balanceOf[msg.sender] -= amount;
        require(asset.transfer(msg.sender, amount), "transfer");
    }

    /// @notice Pause deposits and withdrawals.
    function pause() external onlyRole(MANAGER_ROLE) {
        _pause();
    }

    /// @notice Resume.
    function unpause() external onlyRole(MANAGER_ROLE) {
        _unpause();
    }

    function _authorizeUpgrade(address) internal override onlyOwner {}
}

/// @title TPVaultV2
/// @notice The same vault with a version number: the target of the upgrades in the test.
contract TPVaultV2 is TPVault {
    /// @notice 2.
    function version() external pure returns (uint256) {
        return 2;
    }
}

/// @title TPProxy
/// @notice OpenZeppelin's ERC1967Proxy under a name of its own (forge artifact for the test).
contract TPProxy is ERC1967Proxy {
    /// @param impl The implementation.
    /// @param data The initializer call.
    constructor(address impl, bytes memory data) payable ERC1967Proxy(impl, data) {}
}

/// @title TPPair
/// @notice A Uniswap-V2-style pair: reserves, UQ112x112 cumulative prices updated on the first change
///         of each block, `Sync`, and a fee-less constant-product swap. Enough for a TWAP reference.
contract TPPair {
    IERC20 public immutable token0;
    IERC20 public immutable token1;
    uint112 private _reserve0;
    uint112 private _reserve1;
    uint32 private _blockTimestampLast;
    uint256 public price0CumulativeLast;
    uint256 public price1CumulativeLast;

    /// @notice Emitted when reserves change.
    event Sync(uint112 reserve0, uint112 reserve1);

    /// @param t0 Token 0.
    /// @param t1 Token 1.
    constructor(IERC20 t0, IERC20 t1) {
        token0 = t0;
        token1 = t1;
    }

    /// @notice Reserves and the time they last changed, as Uniswap V2 reports them.
    function getReserves() external view returns (uint112, uint112, uint32) {
        return (_reserve0, _reserve1, _blockTimestampLast);
    }

    /// @notice Match reserves to balances (after liquidity is sent in).
    function sync() external {
        _update(token0.balanceOf(address(this)), token1.balanceOf(address(this)));
    }

    /// @notice Pay in first, then take out what keeps reserve0 * reserve1 from falling.
    /// @param amount0Out Token 0 out.
    /// @param amount1Out Token 1 out.
    /// @param to Recipient.
    function swap(uint256 amount0Out, uint256 amount1Out, address to) external {
        if (amount0Out > 0) require(token0.transfer(to, amount0Out), "t0");
        if (amount1Out > 0) require(token1.transfer(to, amount1Out), "t1");
        uint256 b0 = token0.balanceOf(address(this));
        uint256 b1 = token1.balanceOf(address(this));
        require(b0 * b1 >= uint256(_reserve0) * _reserve1, "k");
        _update(b0, b1);
    }

    function _update(uint256 b0, uint256 b1) private {
        uint32 ts = uint32(block.timestamp);
        uint32 elapsed = ts - _blockTimestampLast;
        if (elapsed > 0 && _reserve0 != 0 && _reserve1 != 0) {
            price0CumulativeLast += ((uint256(_reserve1) << 112) / _reserve0) * elapsed;
            price1CumulativeLast += ((uint256(_reserve0) << 112) / _reserve1) * elapsed;
        }
        _reserve0 = uint112(b0);
        _reserve1 = uint112(b1);
        _blockTimestampLast = ts;
        emit Sync(_reserve0, _reserve1);
    }
}

/// @title TPEthVault
/// @notice Holds ETH; its `sweep` is unguarded (the bug under watch): native-coin flows for the detectors.
contract TPEthVault {
    /// @notice Accept ETH.
    receive() external payable {}

    /// @notice Send `amount` wei to `to`. Anyone may call it.
    /// @param to Recipient.
    /// @param amount Wei.
    function sweep(address payable to, uint256 amount) external {
        (bool ok,) = to.call{value: amount}("");
        require(ok, "send");
    }
}

/// @title TPSweeper
/// @notice Calls a TPEthVault's sweep from a contract, so the ETH moves in an internal call frame.
contract TPSweeper {
    /// @notice Sweep `amount` from `vault` to the caller.
    /// @param vault The vault.
    /// @param amount Wei.
    function drain(TPEthVault vault, uint256 amount) external {
        vault.sweep(payable(msg.sender), amount);
    }
}

/// @title TPSilentToken
/// @notice A token that moves balances without emitting Transfer (some real ones do): only reads see it.
contract TPSilentToken {
    mapping(address account => uint256 amount) public balanceOf;

    /// @notice Credit `amount` to `to` (test set-up).
    /// @param to Account.
    /// @param amount Base units.
    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    /// @notice Move `amount` from `from` to `to`, without an event and without any check (the bug).
    /// @param from Debited account.
    /// @param to Credited account.
    /// @param amount Base units.
    function move(address from, address to, uint256 amount) external {
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// @title TPSilentAdmin
/// @notice Changes its owner and its ERC-1967 implementation slot without emitting any event, as a
///         custom proxy or a storage write through a delegatecall could: only storage reads reveal it.
contract TPSilentAdmin {
    bytes32 private constant IMPLEMENTATION_SLOT = 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    /// @notice Write `impl` into the ERC-1967 implementation slot, silently.
    /// @param impl The new implementation.
    function setImplementation(address impl) external {
        require(msg.sender == owner, "owner");
        assembly ("memory-safe") {
            sstore(IMPLEMENTATION_SLOT, impl)
        }
    }

    /// @notice Hand the contract to `next`, silently.
    /// @param next The new owner.
    function setOwner(address next) external {
        require(msg.sender == owner, "owner");
        owner = next;
    }
}
