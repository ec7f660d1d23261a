"""One exception root: every error class Bastion defines derives from BastionError (so the command line
turns it into one line and exit code 2), and keeps its builtin base for callers that catch that."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import bastion
from bastion.errors import BastionError


def test_every_bastion_exception_derives_from_bastion_error():
    defined = []
    for info in pkgutil.walk_packages(bastion.__path__, "bastion."):
        if ".migrations" in info.name:
            continue  # Alembic scripts run inside Alembic, not on import
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            # Private classes (``_Retry``) are control flow inside one module and never reach a user.
            if issubclass(obj, BaseException) and obj.__module__ == info.name and not obj.__name__.startswith("_"):
                defined.append(obj)
    assert len(defined) >= 10
    strays = [f"{c.__module__}.{c.__name__}" for c in defined if not issubclass(c, BastionError)]
    assert not strays, f"not under BastionError: {strays}"
