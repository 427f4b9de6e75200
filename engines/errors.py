"""engines' own errors: the base of every error a model, engine or backend raises for the user.

Each message is one line naming the file, model or backend and what is wrong with it. engines is
the lower layer and knows nothing of fcw: fcw's errors build on :class:`EngineError`
(``fcw.errors``), so that the ``fcw`` command prints these as it prints its own.
"""
from __future__ import annotations


class EngineError(Exception):
    """An error meant for the user, printed as one line; ``exit_code`` for a command-line tool."""

    exit_code = 1


class ModelError(EngineError):
    """A model file that is missing, corrupt, of the wrong hash or of an unexpected shape; an
    engine built for something else; an INT8 model that disagrees with its fp32 original."""


class BackendUnavailable(EngineError):
    """An inference backend that is not installed or cannot run on this machine."""
