"""The ``fcw`` command: one sub-command module per job, each with ``add_parser`` and ``main``."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Optional, Sequence

from fcw import __version__
from fcw.config import ConfigError
from fcw.errors import FcwError

# Sub-command modules, imported when the parser is built so that `import fcw.cli` stays light.
COMMANDS = ("run", "render", "build_engine", "bench", "eval", "batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcw", description="Forward-collision warning for a monocular dashcam.")
    parser.add_argument("--version", action="version", version=f"fcw {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


# OpenCV and FFmpeg print lines of their own for a damaged file or a dropped stream; fcw reports
# those itself, in one line, so theirs show only with -v (or when these are set already).
_QUIET_LIBRARIES = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not {"-v", "--verbose"} & set(argv):
        for name, value in _QUIET_LIBRARIES.items():  # before the sub-commands import cv2
            os.environ.setdefault(name, value)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="fcw: %(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"fcw: error: {exc}", file=sys.stderr)
        return 2
    except FcwError as exc:
        print(f"fcw: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug, not bad input: one line, the traceback only with -v
        logging.debug("unexpected error", exc_info=True)
        print(f"fcw: error: unexpected {type(exc).__name__}: {exc} (run with -v for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
