"""Small Keras layers that merges need and Keras lacks. Imported only at build time."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="nas")
class PadLastAxis(keras.layers.Layer):
    """Zero-pad the last axis of a tensor of any rank up to ``width``."""

    def __init__(self, width: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width = int(width)

    def call(self, inputs: Any) -> Any:
        missing = self.width - inputs.shape[-1]
        padding = [(0, 0)] * (len(inputs.shape) - 1) + [(0, missing)]
        return keras.ops.pad(inputs, padding)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*input_shape[:-1], self.width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width}
