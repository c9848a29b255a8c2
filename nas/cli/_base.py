"""What every command shares: argument parsing, error reporting and exit codes.

A command is a small class with ``add_arguments(parser)`` and ``run(args) -> int``;
:func:`run_command` gives it ``--debug`` and turns errors into exit codes:

- 0: done; 1: the work failed (a failed training, an unreadable file...), with one line
  saying why; 2: a bad flag or value, with one line naming it.

Tracebacks are printed only with ``--debug``, which also shows the ``nas`` debug logs.
Commands that train or load models also take ``--tf-logs``: TensorFlow's C++ logs are
hidden otherwise (see :func:`nas._imports.quiet_tensorflow_logs`).

The working folder goes first on the import path, as with ``python -m``, so that
``--problem wine:problem`` finds the ``wine.py`` beside the user.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NoReturn

from nas._imports import quiet_tensorflow_logs


class UsageError(Exception):
    """A bad command-line flag or value: the command exits with status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class Command:
    """One command-line program; subclasses set ``name`` and ``description``.

    Example:
        >>> class Hello(Command):
        ...     name = "nas-hello"
        ...     description = "Say hello."
        ...     def add_arguments(self, parser):
        ...         parser.add_argument("--who", default="world")
        ...     def run(self, args):
        ...         print(f"hello {args.who}")
        ...         return 0
        >>> run_command(Hello(), ["--who", "you"])
        hello you
        0
    """

    name: ClassVar[str]
    description: ClassVar[str]
    #: Whether the command trains or loads models, and so takes ``--tf-logs``.
    uses_tensorflow: ClassVar[bool] = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's flags on ``parser``."""
        raise NotImplementedError

    def run(self, args: argparse.Namespace) -> int:
        """Do the work and return the exit status; raise UsageError for bad values."""
        raise NotImplementedError


def run_command(command: Command, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run ``command`` and return its status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _import_from_working_folder()
    parser = _Parser(
        prog=command.name,
        description=command.description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="print tracebacks and nas debug logs")
    if command.uses_tensorflow:
        parser.add_argument(
            "--tf-logs",
            action="store_true",
            help="show TensorFlow's C++ logs (start-up banners, graph optimiser errors) in "
            "this process and the workers or ranks it starts: TF_CPP_MIN_LOG_LEVEL=0; "
            "without it the level is 2 (errors only) unless the environment sets one",
        )
    command.add_arguments(parser)
    # Known before parsing, so that a parsing error can be debugged too.
    debug = "--debug" in argv
    try:
        args = parser.parse_args(argv)
        # Before any TensorFlow import, here and in the workers, which inherit it.
        quiet_tensorflow_logs(show=getattr(args, "tf_logs", False))
        with _debug_logs() if debug else contextlib.nullcontext():
            return command.run(args)
    except SystemExit as exit_request:  # --help and --version exit through argparse
        return exit_request.code if isinstance(exit_request.code, int) else 0
    except UsageError as error:
        _report(command.name, error, debug, hint=f" (see {command.name} --help)")
        return 2
    except KeyboardInterrupt:
        print(f"{command.name}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        _report(command.name, error, debug)
        return 1


def _import_from_working_folder() -> None:
    """Put the working folder first on the import path, as ``python -m`` does.

    A console script's import path starts with the script's own folder (the
    environment's ``bin``), not the working folder. Worker processes inherit the path;
    MPI ranks run the command themselves.
    """
    folder = os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _report(name: str, error: Exception, debug: bool, hint: str = "") -> None:
    if debug:
        traceback.print_exc()
    message = str(error) if isinstance(error, UsageError) else f"{type(error).__name__}: {error}"
    print(f"{name}: error: {message}{hint}", file=sys.stderr)


@contextlib.contextmanager
def _debug_logs() -> Iterator[None]:
    """nas's debug logs on stderr while a command runs. A command line program may
    configure logging; the library never does, and the command undoes it when it ends
    (called in-process, from a test or a notebook, it must leave logging as it was)."""
    logger = logging.getLogger("nas")
    level = logger.level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- argparse types shared by the commands ---------------------------------------


def non_negative_int(text: str) -> int:
    """argparse type: an int >= 0."""
    return _checked_number(text, int, "a non-negative int", lambda number: number >= 0)


def positive_int(text: str) -> int:
    """argparse type: an int > 0."""
    return _checked_number(text, int, "a positive int", lambda number: number > 0)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _checked_number(
        text, float, "a positive number", lambda number: number > 0 and math.isfinite(number)
    )


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _checked_number(
        text, float, "a non-negative number", lambda number: number >= 0 and math.isfinite(number)
    )


#: Units of :func:`memory_size`: powers of 1024, as ``free -h`` and Slurm's ``--mem`` count.
_MEMORY_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def memory_size(text: str) -> int:
    """argparse type: bytes, as a number with an optional unit: ``0``, ``512M``,
    ``1.5G``, ``2GiB`` (K, M, G, T: powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a memory size such as 0, 512M or 2G, got {text!r}"
        )
    return int(float(match[1]) * _MEMORY_UNITS[match[2]])


def _checked_number(text: str, kind: type, expected: str, accepts: Any) -> Any:
    try:
        number = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not accepts(number):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return number
