"""Plug-ins: detectors (and, for the tower, actions and notifiers) from other packages or modules.

Two ways in, both without a wrapper script:

- an installed package declares entry points in the groups ``bastion.detectors``,
  ``bastion.actions`` and ``bastion.notifiers``; each entry point names a class or a module (a module
  registers its classes when imported). Loaded once per process, on the first config validated;
- the config names modules: ``[plugins] modules = ["my_detectors"]``, with ``paths = ["plugins"]``
  (relative to the config file) added to ``sys.path`` first.

A detector class is added to ``REGISTRY`` (its module may also use ``@register`` itself). Actions and
notifiers are the tower's: their modules register with ``bastion.respond`` when imported, so this
module only imports them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from bastion.errors import BastionError
from bastion.watch.detectors import REGISTRY, Detector

GROUPS = ("bastion.detectors", "bastion.actions", "bastion.notifiers")
_loaded_groups: set[str] = set()


class PluginError(BastionError, ValueError):
    """A plug-in that cannot be loaded, as one line."""


def _accept(obj: object, where: str) -> None:
    """Register a detector class; modules registered theirs on import; anything else is refused."""
    if isinstance(obj, ModuleType):
        return
    if isinstance(obj, type) and issubclass(obj, Detector):
        if obj.id in REGISTRY and REGISTRY.get(obj.id) is obj:
            return
        try:
            REGISTRY.add(obj)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{where}: {exc}") from None
        return
    if isinstance(obj, type):
        return  # an action or notifier class: its module registered it with the tower
    raise PluginError(f"{where}: {obj!r} is neither a module nor a class")


def load_entry_points(groups: Iterable[str] = GROUPS) -> list[str]:
    """Load every installed entry point of ``groups`` (once per process); their names."""
    names = []
    for group in groups:
        if group in _loaded_groups:
            continue
        _loaded_groups.add(group)
        for ep in entry_points(group=group):
            where = f"entry point {group}:{ep.name} ({ep.value})"
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in is named, never a traceback
                raise PluginError(f"{where}: cannot load ({type(exc).__name__}: {exc})") from None
            _accept(obj, where)
            names.append(ep.name)
    return names


def load_modules(modules: Iterable[str], paths: Iterable[Path] = ()) -> list[ModuleType]:
    """Import the named modules (after putting ``paths`` on ``sys.path``); detectors register on import."""
    for p in paths:
        text = str(Path(p).resolve())
        if text not in sys.path:
            sys.path.insert(0, text)
    out = []
    for i, name in enumerate(modules):
        where = f"plugins.modules[{i}]"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            raise PluginError(
                f"{where}: no module {exc.name!r} (got {name!r}): install it or list its folder in plugins.paths"
            ) from None
        except Exception as exc:
            raise PluginError(f"{where}: importing {name!r} failed ({type(exc).__name__}: {exc})") from None
        for attr in vars(module).values():
            mine = isinstance(attr, type) and issubclass(attr, Detector) and attr.__module__ == module.__name__
            if mine and getattr(attr, "id", None) and attr.id not in REGISTRY:
                _accept(attr, f"{where}: {name}.{attr.__name__}")
        out.append(module)
    return out
