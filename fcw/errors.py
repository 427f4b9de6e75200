"""Errors meant for the user: each message is one line that names the file, field or source."""

from collections.abc import Mapping
from typing import Any

from engines.errors import BackendUnavailable, EngineError, ModelError

__all__ = ["EXIT_FAULT", "EXIT_OK", "EXIT_SOURCE_LOST", "EXIT_USAGE", "BackendUnavailable",
           "FcwError", "ModelError", "SourceError", "validation_problem"]

# The process's exit codes, for a supervisor (systemd restarts on any but 0 and, by fcw's unit,
# not on EXIT_USAGE): what ``fcw run`` documents.
EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2  # bad configuration or command line; also argparse's own code
EXIT_SOURCE_LOST = 3


# The base of the errors the CLI prints as one line and turns into a non-zero exit code
# (``exit_code``, EXIT_FAULT unless a subclass says otherwise). It is engines' own base, so that a
# model, engine or backend error raised in the lower layer is one of fcw's errors too.
FcwError = EngineError


class SourceError(FcwError):
    """A frame source that is missing, unreadable or not what it claims to be."""


def validation_problem(err: Mapping[str, Any]) -> str:
    """One pydantic error (``ValidationError.errors()[0]``) as ``field.path[0].key: problem``.

    Shared by the config and label-file loaders, which put the file (and line) in front of it.
    """
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in err["loc"]).lstrip(".")
    path = path or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    # The offending value helps when it is short; a whole object does not.
    got = f" (got {err['input']!r})" if not isinstance(err.get("input", {}), dict) else ""
    return f"{path}: {err['msg']}{got}"
