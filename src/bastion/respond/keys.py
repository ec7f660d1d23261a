"""Signing keys by reference: an environment variable holding the hex key, or an encrypted keystore
JSON with its password in an environment variable.

The key never leaves this module's ``Signer``: ``repr``/``str`` show the address only, the object
refuses to be pickled or copied, and every error names the variable or file, never its content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys_mod

from bastion.chain.redact import looks_secret
from bastion.errors import BastionError


class KeyRefError(BastionError, RuntimeError):
    """A key reference that cannot be resolved (message names the reference, never the secret)."""


class Signer:
    """Signs transactions and digests for one account."""

    __slots__ = ("__account", "address")

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account
        self.address: str = account.address

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTransaction:
        return self.__account.sign_transaction(tx)

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte ``r || s || v`` signature (v = 27/28) of a 32-byte digest, without prefix."""
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        pk = eth_keys_mod.PrivateKey(self.__account.key)
        sig = pk.sign_msg_hash(digest)
        return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a Signer cannot be pickled")

    def __copy__(self):
        raise TypeError("a Signer cannot be copied")

    def __deepcopy__(self, memo):
        raise TypeError("a Signer cannot be copied")


def signer_from_hex(hex_key: str) -> Signer:
    try:
        return Signer(Account.from_key(hex_key.strip()))
    except Exception:
        raise KeyRefError("the value is not a valid private key") from None


def load_signer(
    *, env: str | None = None, keystore: str | Path | None = None, password_env: str | None = None
) -> Signer:
    """A ``Signer`` from ``env`` (hex key) or ``keystore`` + ``password_env``."""
    if env is not None:
        if looks_secret(env):  # the key itself where its variable's name belongs: never echo it
            raise KeyRefError(
                "the env setting of a key looks like a key itself: put the key in an environment variable "
                "and give that variable's name"
            )
        value = os.environ.get(env)
        if not value:
            raise KeyRefError(f"environment variable {env} is not set (it should hold the hex private key)")
        try:
            return Signer(Account.from_key(value.strip()))
        except Exception:
            raise KeyRefError(f"environment variable {env} does not hold a valid private key") from None
    if keystore is None:
        raise KeyRefError("a key needs env or keystore")
    path = Path(keystore)
    if password_env is None or password_env not in os.environ:
        raise KeyRefError(f"password environment variable {password_env} for keystore {path} is not set")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise KeyRefError(f"keystore {path} is unreadable ({type(exc).__name__})") from None
    try:
        raw = Account.decrypt(data, os.environ[password_env])
    except Exception:
        raise KeyRefError(f"keystore {path} did not decrypt with the password in {password_env}") from None
    return Signer(Account.from_key(raw))
