"""Errors meant for the user: each message is one line that names the file, field or source."""


class FcwError(Exception):
    """Base of the errors the CLI prints as one line and turns into a non-zero exit code."""

    exit_code = 1


class SourceError(FcwError):
    """A frame source that is missing, unreadable or not what it claims to be."""


class ModelError(FcwError):
    """A model file that is missing, corrupt, of the wrong hash or of an unexpected shape."""


class BackendUnavailable(FcwError):
    """An inference backend that is not installed or cannot run on this machine."""
