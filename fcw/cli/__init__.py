"""The ``fcw`` command: one sub-command module per job, each with ``add_parser`` and ``main``."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Optional

from fcw import __version__
from fcw.errors import FcwError

# Each sub-command's module and one-line help. `fcw --help` lists them from here; a module (and
# what it imports: OpenCV, ONNX Runtime, scipy) is imported only for the command that runs.
COMMANDS = {
    "run": ("run", "run the pipeline on a video, camera, stream or image folder"),
    "demo": ("demo", "run the bundled sample clip headless and write its outputs to a folder"),
    "render": ("render", "render synthetic scenario clips with exact labels"),
    "build-engine": ("build_engine", "build and cache a TensorRT engine, or a CPU INT8 model"),
    "bench": ("bench", "measure per-stage latency and fps"),
    "eval": ("eval", "evaluate the pipeline on labelled clips"),
    "batch": ("batch", "replay many recorded drives on Ray; compare two batches"),
}


def build_parser(only: Optional[Iterable[str]] = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, the full parsers of those commands and the others as
    names with their help (enough for ``fcw --help`` and to run one of them)."""
    parser = argparse.ArgumentParser(
        prog="fcw", description="Forward-collision warning for a monocular dashcam.")
    parser.add_argument("--version", action="version", version=f"fcw {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = None if only is None else set(only)
    for name, (module, help_text) in COMMANDS.items():
        if wanted is None or name in wanted:
            importlib.import_module(f"{__name__}.{module}").add_parser(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


# OpenCV and FFmpeg print lines of their own for a damaged file or a dropped stream; fcw reports
# those itself, in one line, so theirs show only with -v (or when these are set already).
_QUIET_LIBRARIES = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not {"-v", "--verbose"} & set(argv):
        for name, value in _QUIET_LIBRARIES.items():  # before the sub-commands import cv2
            os.environ.setdefault(name, value)
    # The first word that names a command is the command: top-level options take no value.
    args = build_parser(only=[a for a in argv if a in COMMANDS][:1]).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="fcw: %(levelname)s: %(message)s")
    try:
        return int(args.func(args) or 0)
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
