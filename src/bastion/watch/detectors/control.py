"""Who controls the protocol's contracts: owners, proxy implementations and admins, pauses.

Generic (any EVM protocol, contracts listed in the config): events are matched by topic, so no ABI
is needed, and the owner and ERC-1967 slots are also read from storage on every block where a
watched contract was touched, so a change made without an event (a custom proxy, a storage write
through a delegatecall) is still caught.

- ``ownership``: ``OwnershipTransferred`` (Ownable) and ``OwnershipTransferStarted`` (Ownable2Step),
  or ``owner()`` answering another address than at the previous block.
- ``proxy_upgrade``: ``Upgraded``, ``AdminChanged``, ``BeaconUpgraded`` (ERC-1967), or the
  implementation, admin or beacon slot changing.
- ``contract_paused``: OpenZeppelin ``Paused(address)`` / ``Unpaused(address)`` of any watched contract.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from bastion.watch.decode import event_topic
from bastion.watch.detectors.abi import sel, word
from bastion.watch.detectors.base import Detector, DetectorConfig, register
from bastion.watch.events import Block, Log, Tx
from bastion.watch.findings import Finding, Severity
from bastion.watch.view import ChainView

ZERO = "0x" + "00" * 20
OWNERSHIP_TRANSFERRED = event_topic("OwnershipTransferred(address,address)")
OWNERSHIP_STARTED = event_topic("OwnershipTransferStarted(address,address)")
UPGRADED = event_topic("Upgraded(address)")
ADMIN_CHANGED = event_topic("AdminChanged(address,address)")
BEACON_UPGRADED = event_topic("BeaconUpgraded(address)")
CALL_EXECUTED = event_topic("CallExecuted(bytes32,uint256,address,uint256,bytes)")
PAUSED = event_topic("Paused(address)")
UNPAUSED = event_topic("Unpaused(address)")

# ERC-1967: keccak256("eip1967.proxy.<name>") - 1
SLOTS = {
    "implementation": 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC,
    "admin": 0xB53127684A568B3173AE13B9F8A6016E243E63B6E8EE1178D6A717850B5D6103,
    "beacon": 0xA3F0AD74E5423AEBFD80D3EF4346578335A9A72AEAEE59FF6CB3582B35133D50,
}
OWNER = sel("owner()")


def topic_address(topic: str) -> str:
    return "0x" + topic[-40:]


def data_address(data: bytes, i: int) -> str | None:
    w = word(data, i)
    return None if w is None else "0x" + w.to_bytes(32, "big")[12:].hex()


def watched(view: ChainView, chosen: Iterable[str]) -> frozenset[str]:
    """The contracts named in ``chosen``, else every contract of the protocol."""
    picked = frozenset(view.protocol.resolve(c) for c in chosen)
    return picked or frozenset(c.address for c in view.protocol.contracts.values())


def touched(block: Block, contracts: frozenset[str]) -> list[str]:
    """Watched contracts a successful transaction of ``block`` called (top call, trace frame or log)."""
    hit: set[str] = set()
    ok = {tx.hash for tx in block.txs if tx.status != 0}
    for tx in block.txs:
        if tx.hash in ok and tx.to in contracts:
            hit.add(tx.to)
        for lg in tx.logs:
            if lg.address in contracts:
                hit.add(lg.address)
    for frame in block.traces or ():
        if frame.to in contracts and frame.tx_hash in ok and frame.error is None:
            hit.add(frame.to)
    return sorted(hit)


def _first_log(block: Block, contracts: frozenset[str], topics: Iterable[str]) -> list[Log]:
    want = frozenset(topics)
    return [lg for tx in block.txs if tx.status != 0 for lg in tx.logs if lg.address in contracts and lg.topic0 in want]


@register
class Ownership(Detector):
    id = "ownership"
    severity = Severity.HIGH
    description = (
        "A watched contract's owner changed or a two-step transfer started (Ownable events, or owner() "
        "read at every block that touches the contract)"
    )
    recommendation = "Confirm the new owner with the team; if unknown, pause what the old owner's powers guard"

    class Config(DetectorConfig):
        contracts: list[str] = Field(default_factory=list, description="names or addresses; empty: every contract")
        read_owner: bool = True

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        contracts = watched(view, self.config.contracts)
        out: list[Finding] = []
        seen: set[str] = set()
        for lg in _first_log(event, contracts, (OWNERSHIP_TRANSFERRED, OWNERSHIP_STARTED)):
            if len(lg.topics) != 3:
                continue
            prev, new = topic_address(lg.topics[1]), topic_address(lg.topics[2])
            if prev == ZERO:
                continue  # the constructor or initializer setting the first owner
            started = lg.topic0 == OWNERSHIP_STARTED
            seen.add(lg.address)
            tx = event.tx(lg.tx_hash)
            out.append(
                self.finding(
                    event,
                    f"ownership of {view.protocol.label(lg.address)} "
                    + ("transfer started" if started else "transferred")
                    + f" from {prev} to {new}",
                    tx_hash=lg.tx_hash,
                    subject=lg.address,
                    actor=tx.sender if tx else None,
                    discriminator=f"{'started' if started else 'owner'}:{lg.log_index}",
                    details={"contract": lg.address, "previous": prev, "new": new, "two_step": started},
                )
            )
        if not self.config.read_owner or event.number == 0:
            return out
        todo = [c for c in touched(event, contracts) if c not in seen]
        if not todo:
            return out
        answers = view.call_many(
            [(c, OWNER, event.number - 1) for c in todo] + [(c, OWNER, event.number) for c in todo]
        )
        for i, c in enumerate(todo):
            before, after = data_address(answers[i] or b"", 0), data_address(answers[len(todo) + i] or b"", 0)
            if before is None or after is None or before in (after, ZERO):
                continue
            out.append(
                self.finding(
                    event,
                    f"owner() of {view.protocol.label(c)} changed from {before} to {after} without an event",
                    subject=c,
                    discriminator="owner-read",
                    details={"contract": c, "previous": before, "new": after, "source": "owner()"},
                )
            )
        return out


@register
class ProxyUpgrade(Detector):
    id = "proxy_upgrade"
    severity = Severity.CRITICAL
    description = (
        "A watched proxy's implementation, admin or beacon changed outside a timelock's schedule (ERC-1967 "
        "events, or the ERC-1967 slots read at every block that touches the contract)"
    )
    recommendation = "Compare the new implementation with the audited one; pause the proxy's entry points"

    class Config(DetectorConfig):
        contracts: list[str] = Field(default_factory=list, description="names or addresses; empty: every contract")
        read_slots: bool = True

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        contracts = watched(view, self.config.contracts)
        out: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        for lg in _first_log(event, contracts, (UPGRADED, ADMIN_CHANGED, BEACON_UPGRADED)):
            if lg.topic0 == ADMIN_CHANGED:
                what, prev, new = "admin", data_address(lg.data, 0), data_address(lg.data, 1)
                if prev is None or new is None or prev == ZERO:
                    continue  # set once at deployment
            elif len(lg.topics) == 2:
                what = "implementation" if lg.topic0 == UPGRADED else "beacon"
                prev, new = None, topic_address(lg.topics[1])
            else:
                continue
            if self._initial(event, lg.address, lg.tx_hash):
                continue
            seen.add((lg.address, what))
            tx = event.tx(lg.tx_hash)
            timelock = self._timelock(tx, view)
            out.append(
                self.finding(
                    event,
                    f"{view.protocol.label(lg.address)} {what} changed to {new}"
                    + (f" (executed by timelock {view.protocol.label(timelock)})" if timelock else ""),
                    tx_hash=lg.tx_hash,
                    subject=lg.address,
                    actor=tx.sender if tx else None,
                    discriminator=f"{what}:{lg.log_index}",
                    # a timelocked change was public for the delay (governance reported its schedule)
                    severity=Severity.MEDIUM if timelock else None,
                    details={
                        "contract": lg.address,
                        "what": what,
                        "previous": prev,
                        "new": new,
                        "source": "event",
                        "timelock": timelock,
                    },
                )
            )
        if not self.config.read_slots or event.number == 0:
            return out
        for c in touched(event, contracts):
            for what, slot in SLOTS.items():
                if (c, what) in seen:
                    continue
                after = view.storage(c, slot, event.number)
                before = view.storage(c, slot, event.number - 1)
                if before == after or before == 0:
                    continue
                new = "0x" + after.to_bytes(32, "big")[12:].hex()
                out.append(
                    self.finding(
                        event,
                        f"{view.protocol.label(c)} {what} slot changed to {new} without an event",
                        subject=c,
                        discriminator=f"{what}:slot",
                        details={
                            "contract": c,
                            "what": what,
                            "previous": "0x" + before.to_bytes(32, "big")[12:].hex(),
                            "new": new,
                            "source": "slot",
                        },
                    )
                )
        return out

    @staticmethod
    def _timelock(tx: Tx | None, view: ChainView) -> str | None:
        """The watched timelock that executed ``tx``'s scheduled call, if one did."""
        if tx is None:
            return None
        for lg in tx.logs:
            if lg.topic0 == CALL_EXECUTED and lg.address in view.protocol.timelocks:
                return lg.address
        return None

    @staticmethod
    def _initial(block: Block, address: str, tx_hash: str) -> bool:
        """The proxy's own deployment sets its first implementation: not an upgrade."""
        tx = block.tx(tx_hash)
        return tx is not None and tx.contract_address == address


@register
class ContractPaused(Detector):
    id = "contract_paused"
    severity = Severity.MEDIUM
    description = "A watched contract was paused or unpaused (OpenZeppelin Pausable events)"
    recommendation = "Check who paused and why; an unexpected pause may mean a compromised pauser key"

    class Config(DetectorConfig):
        contracts: list[str] = Field(default_factory=list, description="names or addresses; empty: every contract")

    def run(self, event: Block, view: ChainView) -> list[Finding]:
        contracts = watched(view, self.config.contracts)
        out = []
        for lg in _first_log(event, contracts, (PAUSED, UNPAUSED)):
            by = data_address(lg.data, 0)
            what = "paused" if lg.topic0 == PAUSED else "unpaused"
            out.append(
                self.finding(
                    event,
                    f"{view.protocol.label(lg.address)} {what} by {by}",
                    tx_hash=lg.tx_hash,
                    subject=lg.address,
                    actor=by,
                    discriminator=f"{what}:{lg.log_index}",
                    details={"contract": lg.address, "event": what, "by": by},
                )
            )
        return out
