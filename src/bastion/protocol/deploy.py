"""Deploy Bastion's system to a chain and describe it in a manifest (JSON-serializable dict)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bastion.chain.contracts import Sender

USDC_DECIMALS = 6


@dataclass
class Manifest:
    """What was deployed where: the input of every client, watchtower and rehearsal."""

    chain_id: int
    deployment_block: int
    deployer: str
    contracts: dict[str, str] = field(default_factory=dict)  # role name -> address
    parameters: dict[str, int | str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def deploy_system(sender: Sender) -> Manifest:
    """Deploy every contract that exists today (the local test world) and return the manifest."""
    w3 = sender.w3
    start_block = w3.eth.block_number
    usdc = sender.deploy("MintableToken", "USD Coin", "USDC", USDC_DECIMALS, sender.address)
    manifest = Manifest(chain_id=w3.eth.chain_id, deployment_block=start_block + 1, deployer=sender.address)
    manifest.contracts["usdc"] = usdc.address
    manifest.parameters["usdc_decimals"] = USDC_DECIMALS
    return manifest


def check_system(sender: Sender, manifest: Manifest) -> list[str]:
    """Call every deployed contract once; return one line per check (raises if one does not answer)."""
    from bastion.chain.contracts import contract_at

    usdc = contract_at(sender.w3, "MintableToken", manifest.contracts["usdc"])
    amount = 1_000 * 10**USDC_DECIMALS
    sender.transact(usdc.functions.mint(sender.address, amount))
    balance = usdc.functions.balanceOf(sender.address).call()
    if balance < amount:
        raise RuntimeError(f"USDC at {usdc.address} minted {amount} but the balance reads {balance}")
    return [f"USDC {usdc.address}: decimals {usdc.functions.decimals().call()}, minted {amount} base units"]
