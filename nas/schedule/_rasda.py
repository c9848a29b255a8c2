"""RASDA: resource-adaptive successive doubling (Aach et al., arXiv 2412.02729).

ASHA (:mod:`nas.schedule._asha`, either form) where the data-parallel width grows with
the rung: a configuration trains at rung ``k`` on ``w0 · f^k`` ranks (``f``: the width
factor, 2 by default), so each rung holds fewer configurations on more ranks, and the
global batch (``batch_size`` per rank, times the width) grows as the survivors train
longer. The rules, where the reference code (olympiquemarcel/rasda) leaves gaps:

* **Widths.** ``w0`` is the smallest width the problem allows (its ``num_ranks``
  choices that the evaluator can run, usually 1). The width at rung ``k`` is the widest
  allowed width ``<= w0 · f^k``: it is capped by the problem's choices and by the
  evaluator's ``max_width`` (the ranks that exist: the reference asks the cluster for
  more than it has and waits forever). A capped job records ``width_capped_from``. The
  problem may declare wider widths than the evaluator runs (RASDA is in
  ``WIDTH_SETTING_SCHEDULERS``: ``run_search`` lets it cap them).
  RASDA sets ``num_ranks`` itself, so ``run_search`` does not let the search search it:
  the search sees ``num_ranks`` held at ``w0`` and proposes the same configurations as
  under ASHA with the same seed (a comparison of the two is paired), and a model-based
  search does not model a dimension that RASDA overrides. Were a search to propose
  another value (a search built by hand), it is recorded as ``proposed_num_ranks`` and
  the search is told its own proposal back, so its model of the space stays its own.
* **Optimizer state** is kept on a resize: the segment continues the checkpoint's
  weights and optimizer moments and iteration count (the reference drops them).
* **Learning rate** scales with the width: linearly for SGD, with the square root for
  Adam-type optimizers (as the paper does; ``learning_rate_rule`` overrides), from the
  checkpoint's rate to the new one over a short re-warm-up of
  ``min(1, segment epochs / 4)`` epochs at the start of each resized segment (the
  trainer applies ``Job.info["learning_rate_scaling"]``, see :mod:`nas.train._group`).
* **Journal.** Every job's info holds ``width``; a resized one ``resize`` (``from``,
  ``to``, ``rule``, ``warmup_epochs``) and ``learning_rate_scaling``. The cost of the
  resize is in the trial's record: loading the checkpoint and compiling on the new group
  are in ``build_time``, the re-warm-up epochs in ``info``.

**The problem must let RASDA widen**: ``num_ranks`` declared as a ``Categorical`` of
powers of two, e.g. ``Categorical([1, 2, 4, 8])``, since the trainer accepts only
declared values. A problem with one width fails at the start when the evaluator could
run wider; on an evaluator of width 1 (the process pool) RASDA runs as ASHA with the
caps recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nas.problem._training_settings import TRAINING_HYPERPARAMETERS
from nas.schedule._asha import ASHA, ASHA_PARAMETERS, _Configuration
from nas.schedule._base import Job
from nas.schedule._registry import SchedulingContext
from nas.schedule._rungs import check_int, check_params
from nas.search import Proposal, Search
from nas.train._group import (
    LEARNING_RATE_SCALING,
    SCALING_RULES,
    LearningRateScaling,
    initial_warmup_epochs,
    resize_warmup_epochs,
    scaling_rule_for,
)

logger = logging.getLogger("nas.schedule")

#: ``learning_rate_rule`` values: by optimizer, or one rule for all.
LEARNING_RATE_RULES = ("auto", *SCALING_RULES)


class RASDA(ASHA):
    """ASHA whose rung ``k`` trains on ``w0 · f^k`` ranks, capped (see the module).

    Args:
        search: proposes the configurations started at rung 0.
        min_epochs, max_epochs, reduction_factor, mode, max_configurations: as for
            :class:`ASHA`.
        widths: the data-parallel widths allowed (the problem's ``num_ranks`` choices
            the evaluator can run); the smallest is the width of rung 0.
        width_factor: ``f``, the factor of the width from one rung to the next.
        learning_rate_rule: ``"auto"`` (linear for SGD, square root otherwise),
            ``"linear"`` or ``"sqrt"``.

    Example:
        >>> from nas.search import RandomSearch
        >>> rasda = RASDA(RandomSearch([3]), 1, 27, widths=[1, 2, 4])
        >>> rasda.widths, rasda.desired_widths
        ([1, 2, 4, 4], [1, 2, 4, 8])
    """

    name = "rasda"

    def __init__(
        self,
        search: Search,
        min_epochs: int,
        max_epochs: int,
        reduction_factor: int = 3,
        mode: str = "promotion",
        max_configurations: int | None = None,
        *,
        widths: Sequence[int] = (1,),
        width_factor: int = 2,
        learning_rate_rule: str = "auto",
    ) -> None:
        super().__init__(
            search, min_epochs, max_epochs, reduction_factor, mode, max_configurations
        )
        check_int("width_factor", width_factor, 2, "--width-factor")
        if learning_rate_rule not in LEARNING_RATE_RULES:
            raise ValueError(
                f"learning_rate_rule must be one of {list(LEARNING_RATE_RULES)}, "
                f"got {learning_rate_rule!r}"
            )
        allowed = sorted({check_int("widths", width, 1) for width in widths})
        if not allowed:
            raise ValueError("widths must hold at least one width")
        self.width_factor = width_factor
        self.learning_rate_rule = learning_rate_rule
        #: The width each rung asks for before the cap, and the width it gets.
        self.desired_widths = [allowed[0] * width_factor**k for k in range(len(self.resources))]
        self.widths = [max(w for w in allowed if w <= want) for want in self.desired_widths]

    def rule_for(self, hyperparameters: dict[str, Any]) -> str:
        """The learning-rate scaling rule of a configuration."""
        if self.learning_rate_rule != "auto":
            return self.learning_rate_rule
        default = TRAINING_HYPERPARAMETERS["optimizer"].default
        return scaling_rule_for(str(hyperparameters.get("optimizer", default)))

    def _hyperparameters(self, config: _Configuration, rung_index: int) -> dict[str, Any]:
        return {**config.proposal.hyperparameters, "num_ranks": self.widths[rung_index]}

    def _extra_info(self, config: _Configuration, rung_index: int) -> dict[str, Any]:
        width = self.widths[rung_index]
        info: dict[str, Any] = {
            "width": width,
            "proposed_num_ranks": config.proposal.hyperparameters.get("num_ranks"),
        }
        if self.desired_widths[rung_index] != width:
            info["width_capped_from"] = self.desired_widths[rung_index]
        rule = self.rule_for(dict(config.proposal.hyperparameters))
        if rung_index == 0:
            scaling = LearningRateScaling(rule, 1, initial_warmup_epochs(self.resources[0]))
        else:
            previous = self.widths[rung_index - 1]
            segment = self.resources[rung_index] - self.resources[rung_index - 1]
            warmup = resize_warmup_epochs(segment) if previous != width else 0.0
            scaling = LearningRateScaling(rule, previous, warmup)
            if previous != width:
                # Its cost besides loading the checkpoint: the re-warm-up epochs.
                info["resize"] = {
                    "from": previous,
                    "to": width,
                    "rule": rule,
                    "warmup_epochs": warmup,
                }
        info[LEARNING_RATE_SCALING] = scaling.to_dict()
        return info

    def _proposal_of(self, job: Job) -> Proposal:
        hyperparameters = dict(job.hyperparameters)
        proposed = job.info.get("proposed_num_ranks")
        if proposed is None:
            hyperparameters.pop("num_ranks", None)
        else:
            hyperparameters["num_ranks"] = proposed
        return Proposal(tuple(job.arch_seq), hyperparameters)


#: ``make_rasda``'s parameters and defaults (None: from the scheduling context).
RASDA_PARAMETERS: dict[str, Any] = {
    **ASHA_PARAMETERS,
    "width_factor": 2,
    "learning_rate_rule": "auto",
}


def make_rasda(search: Search, context: SchedulingContext, **params: Any) -> RASDA:
    """RASDA over ``search`` (``nas-search --scheduler rasda``).

    Parameters: those of :func:`nas.schedule._asha.make_asha`, ``width_factor`` (f, 2;
    ``--width-factor``) and ``learning_rate_rule`` (``"auto"``). The allowed widths are
    the problem's ``num_ranks`` values (``context.widths``) up to ``context.max_width``.

    Raises:
        ValueError: for an unknown parameter or a bad value, or a problem whose
            ``num_ranks`` does not let RASDA widen on an evaluator that could.
    """
    values = check_params("rasda", params, RASDA_PARAMETERS)
    if values["max_epochs"] is None:
        values["max_epochs"] = context.max_epochs
    widths = allowed_widths(context)
    return RASDA(
        search,
        values["min_epochs"],
        values["max_epochs"],
        values["reduction_factor"],
        values["mode"],
        values["max_configurations"],
        widths=widths,
        width_factor=values["width_factor"],
        learning_rate_rule=values["learning_rate_rule"],
    )


def allowed_widths(context: SchedulingContext) -> list[int]:
    """The problem's ``num_ranks`` values the evaluator can run, checked for RASDA."""
    values = sorted(context.widths)
    allowed = [width for width in values if width <= context.max_width]
    example = "num_ranks=Categorical([1, 2, 4, 8])"
    if not allowed:
        raise ValueError(
            f"RASDA: the problem's num_ranks values {values} are all wider than the "
            f"{context.max_width} rank(s) the evaluator gives one configuration"
        )
    if len(allowed) == 1 and context.max_width > allowed[0]:
        raise ValueError(
            f"RASDA widens configurations at each rung (num_ranks), but the problem "
            f"allows only num_ranks={allowed[0]} while the evaluator can run up to "
            f"{context.max_width} ranks per configuration: declare num_ranks in the "
            f"problem's hyperparameters as a Categorical of powers of two, e.g. {example}"
        )
    if len(allowed) == 1:
        logger.warning(
            "RASDA: the evaluator runs at most %d rank(s) per configuration: every rung "
            "keeps width %d (ASHA, with the caps recorded); use --evaluator mpi to widen",
            context.max_width,
            allowed[0],
        )
    return allowed
