// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// A user's vault protected by the packaged guards, imported the way the guide says.
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {GuardAccess} from "bastion-guards/guards/GuardAccess.sol";
import {OutflowLimiter} from "bastion-guards/guards/OutflowLimiter.sol";
import {ScopedPause} from "bastion-guards/guards/ScopedPause.sol";
import {PauseOps} from "bastion-guards/guards/PauseOps.sol";

contract MyVault is OutflowLimiter, ScopedPause {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    uint256 public immutable market;
    mapping(address => uint256) public balanceOf;

    constructor(IERC20 token_, address governance, address guardian, AssetConfig memory cfg)
        GuardAccess(governance, guardian)
        ScopedPause(24 hours, 48 hours, 4 hours)
    {
        token = token_;
        market = uint256(uint160(address(token_)));
        _registerAsset(address(token_), cfg, 0);
    }

    function deposit(uint256 amount) external whenNotPaused(PauseOps.DEPOSIT, market) {
        token.safeTransferFrom(msg.sender, address(this), amount);
        balanceOf[msg.sender] += amount;
        _onTokenInflow(address(token), amount);
    }

    function withdraw(uint256 amount) external whenNotPaused(PauseOps.WITHDRAW, market) {
        balanceOf[msg.sender] -= amount;
        if (_onTokenOutflow(address(token), msg.sender, amount)) token.safeTransfer(msg.sender, amount);
    }

    function _payLockedFunds(address asset, address recipient, uint256 amount) internal override {
        IERC20(asset).safeTransfer(recipient, amount);
    }
}
