"""``fcw eval``: run the pipeline over labelled clips and score what it saw and said.

The metric libraries are the ``eval`` extra; they are imported only here, when a metric needs
them, so ``fcw run`` works without them.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from fcw.errors import FcwError


class EvalError(FcwError):
    """A dataset that cannot be evaluated, or a missing metric library."""


def require(module: str, package: str) -> ModuleType:
    """Import a metric library, or fail with one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EvalError(f"fcw eval needs {package}: pip install 'fcw[eval]'") from None
