"""Streams on a group of ranks (issue 17, item 1): the rules of arrays.

Two real ranks train one configuration from arrays and from each kind of stream
(``tests/mpi_scripts/streams_on_group.py``); with one batch per rank and epoch the
trained model depends only on which rows each rank holds, so equal models mean equal
shards, and equal learning curves mean exact metrics summed over the group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.mpi, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent.parent / "mpi_scripts" / "streams_on_group.py"
SAME_AS_ARRAYS = ("samples", "sharded", "batches", "batched", "batched_sharded")


def test_every_kind_of_stream_trains_on_a_group_as_the_same_arrays(mpirun, tmp_path):
    import keras

    mpirun(2, [sys.executable, SCRIPT, tmp_path], timeout=420)
    results = {
        variant: [json.loads((tmp_path / f"{variant}-{rank}.json").read_text()) for rank in (0, 1)]
        for variant in ("arrays", *SAME_AS_ARRAYS, "unequal")
    }
    for variant, (first, second) in results.items():
        assert first["status"] == second["status"] == "ok", (variant, first["error"])
        assert first["learning_curve"] == second["learning_curve"], variant
        assert first["epochs_trained"] == 2 and first["global_batch_size"] == 64
    weights = {
        variant: keras.saving.load_model(tmp_path / f"{variant}.keras").get_weights()
        for variant in ("arrays", *SAME_AS_ARRAYS)
    }
    for variant in SAME_AS_ARRAYS:
        for name in ("loss", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(
                results[variant][0]["learning_curve"][name],
                results["arrays"][0]["learning_curve"][name],
                rtol=1e-5,
                err_msg=f"{variant} {name}",
            )
        for streamed, in_memory in zip(weights[variant], weights["arrays"]):
            np.testing.assert_allclose(streamed, in_memory, rtol=1e-5, atol=1e-6, err_msg=variant)
    # Parts of 40 and 24 rows: had each rank taken its whole part, the first would have
    # begun a second step the other never joins.
    assert results["unequal"][0]["learning_curve"] != results["arrays"][0]["learning_curve"]
