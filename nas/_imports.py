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
            "nas needs Keras 3 with TensorFlow: pip install 'tensorflow>=2.21,<2.22'"
        ) from error
    return keras
