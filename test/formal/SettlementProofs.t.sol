// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {OutflowLimiter} from "../../contracts/guards/OutflowLimiter.sol";
import {Vault} from "../../contracts/protocol/Vault.sol";
import {MintableToken} from "../../contracts/world/MintableToken.sol";

/// @notice An engine whose settlement state the proof chooses (symbolic), and which may call the vault.
contract SymbolicEngine {
    bool public settled;
    uint256 public settlementPool;
    address public router;

    function set(bool settled_, uint256 pool) external {
        settled = settled_;
        settlementPool = pool;
    }

    function paySettlement(Vault vault, address to, uint256 amount) external returns (bool ok) {
        try vault.paySettlement(to, amount) {
            ok = true;
        } catch {}
    }
}

/// @notice Halmos proof (`make proofs`) that the Vault's settlement payouts, which bypass the outflow
///         limiter, never sum to more than the pool the engine recorded (audit F3's class), whatever the
///         amounts, recipients and the vault's balance. Bounded: three payouts.
contract SettlementProofs is Test {
    Vault internal vault;
    MintableToken internal token;
    SymbolicEngine internal engine;
    address internal constant GOV = address(0x60F);

    function setUp() public {
        token = new MintableToken("Stable", "USD", 6, address(this));
        OutflowLimiter.AssetConfig memory cfg = OutflowLimiter.AssetConfig({
            limitBps: 1_000,
            window: 6 hours,
            floor: 1e6,
            cooldown: 6 hours,
            mode: OutflowLimiter.Mode.REVERT,
            creditShift: 1
        });
        vault = new Vault(IERC20(address(token)), GOV, address(0x6A4D), cfg);
        engine = new SymbolicEngine();
        vm.prank(GOV);
        vault.setEngine(address(engine));
    }

    function check_settlementNeverPaysMoreThanPool(
        bool settled,
        uint256 pool,
        uint256 balance,
        uint256 a1,
        uint256 a2,
        uint256 a3
    ) public {
        vm.assume(balance < 2 ** 128);
        token.mint(address(vault), balance);
        engine.set(settled, pool);
        uint256 paid;
        if (engine.paySettlement(vault, address(0xA1), a1)) paid += a1;
        if (engine.paySettlement(vault, address(0xA2), a2)) paid += a2;
        if (engine.paySettlement(vault, address(0xA3), a3)) paid += a3;
        assert(paid <= pool);
        assert(paid == 0 || settled);
        assert(vault.settlementPaid() == paid);
        assert(token.balanceOf(address(vault)) == balance - paid);
    }
}
