"""Lazy imports of heavy optional dependencies.

Importing TensorFlow costs seconds, so modules that only describe spaces, problems or
searches never import it at module level; they call these helpers when they must.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_keras() -> ModuleType:
    """Return the ``keras`` module, quieting TensorFlow's start-up chatter."""
    # TensorFlow prints C++ INFO lines on import unless told otherwise; users did not ask.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as error:  # pragma: no cover - exercised only without TF
        raise ImportError(
            f"nas needs Keras 3 with TensorFlow 2.21, which did not import ({error}). "
            "Install nas with one of its TensorFlow extras: pip install 'nas[cpu]' (CPU only) "
            "or pip install 'nas[gpu]' (NVIDIA GPUs); from a checkout, pip install -e '.[cpu]' "
            "or '.[gpu]', or bash scripts/setup.sh (NAS_GPU=1 for GPUs)"
        ) from error
    return keras
