// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Brings the Safe multisig (1.4.1, from npm) into the build so deployments can use its artifacts:
// the guardian of a Bastion deployment is a real Safe.
import {Safe} from "@safe-global/safe-contracts/contracts/Safe.sol";
import {SafeProxyFactory} from "@safe-global/safe-contracts/contracts/proxies/SafeProxyFactory.sol";
