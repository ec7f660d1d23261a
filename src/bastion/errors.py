"""The root of Bastion's errors: the command line turns any of them into one line and exit code 2."""

from __future__ import annotations


class BastionError(Exception):
    """Root of every error Bastion reports as one line (what, where, what to do) instead of a traceback.
    Each subclass also derives from the builtin it refines (ValueError, RuntimeError), so callers that
    catch those keep working."""
