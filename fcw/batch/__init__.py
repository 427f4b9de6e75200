"""Fleet-scale replay: every frame of many recorded drives through ``fcw run``'s pipeline, on Ray.

``drives`` expands the command line into drives, ``keys`` says which are already done,
``worker`` replays drives with one loaded model per process, ``runner`` schedules them on Ray,
``table`` and ``diff`` turn the outputs into what a team reads. Ray and pyarrow (the ``batch``
extra) are imported only here, never by ``fcw run``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from fcw.errors import FcwError


def require(module: str) -> ModuleType:
    """Import an optional dependency of ``fcw batch``, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise FcwError(f"fcw batch needs {package}: pip install 'fcw[batch]'") from None
