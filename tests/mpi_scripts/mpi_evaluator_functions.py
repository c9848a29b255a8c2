"""Evaluation functions for the MPI evaluator's rank scripts (no TensorFlow).

Worker ranks import this module by name when they unpickle the function: the rank
script's folder (this one) is on every rank's ``sys.path``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nas.train import Status, TrainingResult
from nas.trial import Config


def sleepy(
    problem_reference: str,
    config: Config,
    timeout: float | None,
    models_directory: Path | None,
    comm: Any = None,
) -> TrainingResult:
    """Sleep ``hyperparameters["sleep"]`` seconds and report where it ran.

    The objective is the world rank that reports; the learning curve records the group's
    world ranks and size (from an allgather on ``comm``, so the group's communicator is
    really used), ``NAS_LOCAL_RANK`` and which ranks got a models directory.
    ``hyperparameters["fail"]``: ``"all"`` raises on every rank of the group, ``"first"``
    on the group's first rank only (after the allgather, so no rank hangs).
    ``hyperparameters["padding"]`` adds that many values to the learning curve: a result
    too large for MPI's eager protocol, whose send waits for rank 0 to receive it.
    """
    from mpi4py import MPI

    started_at = time.time()
    world_rank = MPI.COMM_WORLD.Get_rank()
    local_rank = int(os.environ.get("NAS_LOCAL_RANK", "-1"))
    got_models = models_directory is not None
    if comm is None:
        ranks, local_ranks, models = [world_rank], [local_rank], [got_models]
    else:
        gathered = comm.allgather((world_rank, local_rank, got_models))
        ranks, local_ranks, models = (list(column) for column in zip(*gathered))
    fail = config.hyperparameters.get("fail")
    if fail == "all" or (fail == "first" and world_rank == ranks[0]):
        raise RuntimeError(f"asked to fail on rank {world_rank}")
    time.sleep(float(config.hyperparameters.get("sleep", 0.2)))
    return TrainingResult(
        status=Status.OK,
        objective=float(world_rank),
        learning_curve={
            "group_ranks": [float(rank) for rank in ranks],
            "group_size": [float(1 if comm is None else comm.Get_size())],
            "local_ranks": [float(rank) for rank in local_ranks],
            "got_models_directory": [float(flag) for flag in models],
            "timeout": [-1.0 if timeout is None else float(timeout)],
            "padding": [0.0] * int(config.hyperparameters.get("padding", 0)),
        },
        num_parameters=0,
        epochs_trained=0,
        build_time=0.0,
        training_time=0.0,
        started_at=started_at,
        finished_at=time.time(),
        error=None,
        error_stage=None,
        hyperparameters=dict(config.hyperparameters),
        arch_seq=list(config.arch_seq),
        seed=config.seed,
    )
