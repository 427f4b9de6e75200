"""Errors meant for the user: each message is one line that names the file, field or source."""

from engines.errors import BackendUnavailable, EngineError, ModelError

__all__ = ["EXIT_FAULT", "EXIT_OK", "EXIT_SOURCE_LOST", "EXIT_USAGE", "BackendUnavailable",
           "FcwError", "ModelError", "SourceError"]

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

