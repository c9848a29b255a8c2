"""Lazy imports of heavy optional dependencies, and TensorFlow's console noise.

Importing TensorFlow costs seconds, so modules that only describe spaces, problems or
searches never import it at module level; they call these helpers when they must.

TensorFlow's C++ code logs through absl to the process's stderr: banners when it is
imported (oneDNN, CPU features) and errors of its graph optimisers. Its
``TF_CPP_MIN_LOG_LEVEL`` (0: everything, 1: no INFO, 2: no WARNING either, 3: no ERROR
either) filters them, except the lines logged while TensorFlow is being imported,
before absl is initialised: those reach stderr whatever the level
(tensorflow/tensorflow#100442; twice per process with TensorFlow 2.21). nas imports
TensorFlow through :func:`import_tensorflow`, and problem modules (which may import it)
inside :func:`tensorflow_logs_filtered`, which apply the level to those lines.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

#: The environment variable TensorFlow reads its C++ log level from.
TF_LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
#: nas's default: errors only. INFO and WARNING lines are about how TensorFlow was built
#: and which kernels it picked; a user who wants them passes ``--tf-logs``.
QUIET_LEVEL = "2"
#: A C++ log line: absl's ``E0000 00:00:1796198825.439998    8488 file.cc:135] ...`` (date
#: and time zero, seconds since 1970, before absl is initialised; ``E1231 23:59:59.999999``
#: after) or the older ``2025-09-17 14:44:05.157831: I external/.../file.cc:32] ...``.
_NATIVE_LINE = re.compile(
    r"^(?:(?P<absl>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<tsl>[IWEF]) \S+:\d+\])"
)
#: absl's notice before its first line, printed once per copy of absl: a warning.
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_SEVERITIES = {"I": 0, "W": 1, "E": 2, "F": 3}


def quiet_tensorflow_logs(show: bool = False) -> None:
    """Set TensorFlow's C++ log level for this process and the processes it starts.

    By default the level is :data:`QUIET_LEVEL` unless the environment already sets one
    (the user's value wins). ``show=True`` (the commands' ``--tf-logs``) sets it to 0:
    every line, including the banners of the import. Worker processes and ranks inherit
    the environment, so call this before starting them, and before TensorFlow is
    imported: TensorFlow reads the variable once, at import.
    """
    if show:
        os.environ[TF_LOG_LEVEL_VARIABLE] = "0"
    else:
        os.environ.setdefault(TF_LOG_LEVEL_VARIABLE, QUIET_LEVEL)


def import_tensorflow() -> ModuleType:
    """Return the ``tensorflow`` module; its import logs only at the process's level.

    The first call sets the default level (see :func:`quiet_tensorflow_logs`) and hides
    the C++ lines the import writes below it; everything else the import writes to
    stderr is written after it, unchanged.
    """
    if "tensorflow" not in sys.modules:
        quiet_tensorflow_logs()
        with tensorflow_logs_filtered():
            import tensorflow  # noqa: F401
    _hide_retracing_warnings_of_new_models()
    return sys.modules["tensorflow"]


class _RetracingOfNewModels(logging.Filter):
    """Drops TensorFlow's warning that Keras' train, test or predict function "triggered
    tf.function retracing".

    TensorFlow counts the traces of one piece of Python code over every function made
    from it, and Keras makes those functions anew for every model: a search, which
    builds and traces a new model per evaluation by design, would be told that it
    retraces too often. Retracing of any other function (a user's own) is still shown.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "triggered tf.function retracing" in message
            and "TensorFlowTrainer._make_function" in message
        )


@functools.cache
def _hide_retracing_warnings_of_new_models() -> None:
    logging.getLogger("tensorflow").addFilter(_RetracingOfNewModels())


def import_keras() -> ModuleType:
    """Return the ``keras`` module (TensorFlow imported by :func:`import_tensorflow`)."""
    try:
        import_tensorflow()
        import keras
    except ImportError as error:  # pragma: no cover - exercised only without TF
        raise ImportError(
            f"nas needs Keras 3 with TensorFlow 2.21, which did not import ({error}). "
            "Install nas with one of its TensorFlow extras: pip install 'nas[cpu]' (CPU only) "
            "or pip install 'nas[gpu]' (NVIDIA GPUs); from a checkout, pip install -e '.[cpu]' "
            "or '.[gpu]', or bash scripts/setup.sh (NAS_GPU=1 for GPUs)"
        ) from error
    return keras


def lazy_names(
    package: str, modules: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` (PEP 562) of a package that imports each of
    its names ``modules`` (name: the module defining it) on first use.

    For packages on the way to ``nas-search``'s first line, which catches stop signals:
    importing the driver takes a second or more, and a signal then would kill it.

    Example:
        >>> __getattr__, __dir__ = lazy_names(__name__, {"Study": "nas.driver"})
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(modules[name]), name)
        namespace[name] = value  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *modules})

    return __getattr__, __dir__


@contextlib.contextmanager
def tensorflow_logs_filtered() -> Iterator[None]:
    """Hold back what is written to stderr (file descriptor 2) inside the block, then
    write it without the C++ log lines below the process's ``TF_CPP_MIN_LOG_LEVEL``.

    For code that may import TensorFlow for the first time (TensorFlow itself, a user's
    problem module); once TensorFlow is imported it filters its lines itself, and at
    level 0 there is nothing to hide, so then this does nothing. The lines are held in a
    temporary file rather than read as they come, which keeps this free of threads; so a
    process that dies inside the block loses them (``--tf-logs``, level 0, shows them).
    """
    nothing_to_hide = "tensorflow" in sys.modules or _log_level() == 0
    try:
        saved = -1 if nothing_to_hide else os.dup(2)
    except OSError:  # no stderr to filter (a daemon's closed descriptor)
        saved = -1
    if saved < 0:
        yield
        return
    sys.stderr.flush()
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                held.seek(0)
                text = held.read().decode("utf-8", errors="replace")
                kept = without_tensorflow_logs(text, _log_level())
                if kept:
                    sys.stderr.write(kept)
                    sys.stderr.flush()
    finally:
        os.close(saved)


def without_tensorflow_logs(text: str, level: int) -> str:
    """``text`` without the C++ log lines of a severity below ``level`` (0 to 3).

    Every other line is kept. (TensorFlow's messages of several lines are logged after
    its import, where it applies the level itself.)

    Example:
        >>> banner = "I0000 00:00:17.5  84 port.cc:153] oneDNN custom operations are on\\n"
        >>> without_tensorflow_logs(banner + "hello\\n", 2)
        'hello\\n'
        >>> without_tensorflow_logs("E0000 00:00:17.5  84 hook.cc:9] failed\\n", 2)
        'E0000 00:00:17.5  84 hook.cc:9] failed\\n'
    """
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if (severity := _severity(line)) is None or severity >= level
    )


def _severity(line: str) -> int | None:
    """The severity of a C++ log line (0: INFO to 3: FATAL), None for any other line."""
    if line.startswith(_ABSL_NOTICE):
        return _SEVERITIES["W"]
    match = _NATIVE_LINE.match(line)
    if match is None:
        return None
    return _SEVERITIES[match.group("absl") or match.group("tsl")]


def _log_level() -> int:
    """The process's ``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (0 if unset or bad)."""
    try:
        return int(os.environ.get(TF_LOG_LEVEL_VARIABLE, "0"))
    except ValueError:
        return 0
