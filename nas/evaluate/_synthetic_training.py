"""A synthetic stand-in for training: learning curves and epoch times, without Keras.

The simulated evaluator (:mod:`nas.evaluate._simulated`) asks this model how long a
segment of training takes on ``w`` ranks and what its learning curve is. Everything is
a deterministic function of the model's ``seed`` and of the configuration (its
``arch_seq`` and hyperparameters), never of the trial id, so that the same configuration
always learns the same way and a segment that continues a checkpoint continues the
same curve.

The model
---------
**Learning curve.** The error (1 - accuracy for an objective to maximise, the loss for
one to minimise) after ``p`` epochs of progress is a power law towards an asymptote::

    error(p) = a + (e0 - a) * (1 + p) ** -beta          + noise (per epoch)

with ``e0 = 0.5`` (chance on a balanced binary task) and, per configuration,

* the asymptote ``a = sigmoid(logit(median_error) - arch_scale * A + lr_penalty
  + hyperparameter offsets + config_scale * z)``, at most ``e0``. ``A`` is an additive
  effect of the architecture: one standard-normal draw per decision and choice, summed
  and divided by the square root of the number of decisions, so that ``A`` is standard
  normal over random architectures. ``lr_penalty = lr_scale * log10(learning_rate /
  best_learning_rate) ** 2``: a U-shaped optimum. Each string hyperparameter (the
  optimizer) adds a drawn offset. ``z`` is a standard-normal draw per configuration:
  what no search can predict;
* the rate ``beta = rate * exp(0.2 z') * (learning_rate / best_learning_rate) ** 0.25``:
  larger rates learn faster early but towards a worse asymptote, so curves cross and
  early rungs are imperfect predictors, as in real searches;
* per-epoch noise of standard deviation ``noise``, drawn per configuration and epoch.

**Large global batches.** ``p`` counts progress, not epochs. An epoch at global batch
``B`` (per-rank ``batch_size`` times the width) advances ``p`` by ``1 / (1 + B / B_crit)``:
the empirical model of large-batch training of McCandlish et al. 2018 ("An empirical
model of large-batch training", arXiv:1812.06162), where the epochs needed to reach a
loss grow as ``E_min (1 + B / B_noise)``. Widening a configuration (RASDA) therefore
makes its epochs faster but each one worth less, and a fixed epoch budget ends at a
worse error. The learning rate is taken as the trainer scales it with the width (the
penalty uses the per-rank ``learning_rate``): the simulation does not model a rate that
is mis-scaled for the width.

**Time.** One epoch on ``w`` ranks takes ``t(w) = t(1) / (w * e(w))`` where
``t(1) = epoch_time * cost`` (``cost`` is a per-architecture factor, log-normal with a
spread of 0.3, median 1: larger models train slower) and the parallel efficiency is

    e(w) = 1 / (1 + alpha * log2(w)),   alpha = (1 / efficiency - 1) / log2(512)

so ``e(1) = 1`` and ``e(512)`` is the given ``efficiency``. The default 0.9 is Horovod's
published scaling efficiency on 512 GPUs for Inception V3 and ResNet-101 (Sergeev & Del
Balso 2018, arXiv:1802.05799, and Horovod's README); their VGG-16 figure, 0.68, is the
pessimistic case (large dense layers, communication-bound). The logarithm is the shape
of tree and hierarchical allreduce, whose cost relative to the computation grows by a
constant amount per doubling; at 4,096 ranks it gives 0.87 (from 0.9 at 512) and 0.61
(from 0.68). Each evaluation also pays ``startup_time`` (starting the model, loading
data), ``checkpoint_time`` to load a checkpoint it continues and to save one it is asked
to keep, and ``regroup_time`` when it continues a checkpoint on a different width
(redistributing the data shards and re-warming the learning rate).
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

from nas.problem._training_settings import TRAINING_HYPERPARAMETERS

#: Error of an untrained model (chance on a balanced binary task).
INITIAL_ERROR = 0.5
#: Hyperparameters that say how or where a configuration trains, not what it is: they do
#: not change its identity (the seed of its curve).
_NOT_IDENTITY = frozenset({"num_ranks", "epochs", "patience"})
#: Hyperparameters the model gives a specific meaning (the others with string values,
#: such as the optimizer, get a drawn offset).
_MODELLED = _NOT_IDENTITY | {"learning_rate", "batch_size"}
_STANDARD_NORMAL = NormalDist()


def parallel_efficiency(width: int, efficiency_at_512: float = 0.9) -> float:
    """``e(w) = 1 / (1 + alpha log2 w)`` with ``e(1) = 1`` and ``e(512) = efficiency_at_512``."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    alpha = (1.0 / efficiency_at_512 - 1.0) / math.log2(512)
    return 1.0 / (1.0 + alpha * math.log2(width))


@dataclass(frozen=True)
class Profile:
    """The drawn constants of one configuration.

    Attributes:
        asymptote: the error after unlimited small-batch training.
        rate: the power law's exponent ``beta``.
        cost: the time of one epoch on one rank, relative to ``epoch_time``.
    """

    asymptote: float
    rate: float
    cost: float


@dataclass(frozen=True)
class SegmentCurve:
    """What a simulated segment of training produced."""

    #: The objective after each epoch of the segment.
    values: list[float]
    #: Progress (in small-batch epochs) reached at the end of the segment.
    progress: float


@dataclass(frozen=True)
class SyntheticTraining:
    """The synthetic learning curves and epoch times (see the module's docstring).

    Args:
        objective: the name of the objective, the key of the learning curve.
        direction: ``"max"`` (reported as ``1 - error``, like an accuracy) or ``"min"``
            (reported as the error itself, like a loss).
        seed: seeds the landscape: which architectures and hyperparameters are good.
        epoch_time: seconds of one epoch on one rank, for an architecture of median cost.
        efficiency: parallel efficiency at 512 ranks, or a function ``width -> e(w)``.
        startup_time: seconds every evaluation spends before its first epoch.
        checkpoint_time: seconds to load a checkpoint, and again to save one.
        regroup_time: extra seconds to continue a checkpoint on a different width.
        critical_batch_size: ``B_crit`` of the large-batch model, in samples.
        median_error: the asymptotic error of a median configuration.
        best_learning_rate: the per-rank learning rate of the penalty's optimum.
        arch_scale: spread of the architecture's effect (logit units).
        lr_scale: the learning-rate penalty per squared decade (logit units).
        hyperparameter_scale: spread of the offsets of string hyperparameters.
        config_scale: spread of the per-configuration effect no search can predict.
        rate: median exponent of the power law.
        noise: standard deviation of the per-epoch noise of the objective.

    Example:
        >>> model = SyntheticTraining(seed=0)
        >>> segment = model.train((0, 1, 1), {"learning_rate": 3e-3}, 0, 3)
        >>> len(segment.values)
        3
    """

    objective: str = "val_accuracy"
    direction: str = "max"
    seed: int = 0
    epoch_time: float = 60.0
    efficiency: float | Callable[[int], float] = 0.9
    startup_time: float = 10.0
    checkpoint_time: float = 2.0
    regroup_time: float = 5.0
    critical_batch_size: float = 4096.0
    median_error: float = 0.1
    best_learning_rate: float = 3e-3
    arch_scale: float = 0.6
    lr_scale: float = 0.6
    hyperparameter_scale: float = 0.2
    config_scale: float = 0.25
    rate: float = 1.0
    noise: float = 0.005

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', got {self.direction!r}")
        if not callable(self.efficiency) and not 0 < self.efficiency <= 1:
            raise ValueError(
                f"efficiency must be in (0, 1] (the parallel efficiency at 512 ranks) or a "
                f"function of the width, got {self.efficiency!r}"
            )
        if not 0 < self.median_error < INITIAL_ERROR:
            raise ValueError(
                f"median_error must be in (0, {INITIAL_ERROR}), got {self.median_error}"
            )
        for name in ("epoch_time", "critical_batch_size", "best_learning_rate", "rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("startup_time", "checkpoint_time", "regroup_time", "noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    # -- time ------------------------------------------------------------------------

    def parallel_efficiency(self, width: int) -> float:
        """``e(w)``: the fraction of linear speed-up that ``width`` ranks achieve."""
        if callable(self.efficiency):
            return float(self.efficiency(width))
        return parallel_efficiency(width, self.efficiency)

    def epoch_seconds(self, arch_seq: Sequence[int], width: int) -> float:
        """``t(w) = t(1) / (w e(w))``: seconds of one epoch of ``arch_seq`` on ``width`` ranks."""
        return self.epoch_time * self.cost(arch_seq) / (width * self.parallel_efficiency(width))

    def cost(self, arch_seq: Sequence[int]) -> float:
        """The architecture's time per epoch relative to ``epoch_time`` (median 1)."""
        return math.exp(0.3 * _arch_effect(self.seed, "cost", tuple(arch_seq)))

    # -- learning --------------------------------------------------------------------

    def identity(self, arch_seq: Sequence[int], hyperparameters: Mapping[str, Any]) -> str:
        """The key that seeds a configuration's curve: its architecture and the
        hyperparameters that say what it is (not ``num_ranks``, ``epochs``, ``patience``)."""
        what = {k: v for k, v in hyperparameters.items() if k not in _NOT_IDENTITY}
        return json.dumps([list(arch_seq), what], sort_keys=True, default=str)

    def profile(
        self,
        arch_seq: Sequence[int],
        hyperparameters: Mapping[str, Any],
        key: str | None = None,
    ) -> Profile:
        """The configuration's asymptote, rate and cost.

        ``key`` seeds the draws no search can predict (default: the configuration's
        :meth:`identity`; a continued segment passes its first segment's).
        """
        key = self.identity(arch_seq, hyperparameters) if key is None else key
        ratio = _learning_rate(hyperparameters) / self.best_learning_rate
        logit = math.log(self.median_error / (1 - self.median_error))
        logit -= self.arch_scale * _arch_effect(self.seed, "arch", tuple(arch_seq))
        logit += self.lr_scale * math.log10(ratio) ** 2
        for name, value in sorted(hyperparameters.items()):
            if name not in _MODELLED and isinstance(value, str):
                logit += self.hyperparameter_scale * _normal(self.seed, "hp", name, value)
        logit += self.config_scale * _normal(self.seed, "config", key)
        rate = self.rate * math.exp(0.2 * _normal(self.seed, "rate", key)) * ratio**0.25
        # A configuration that cannot learn stays at chance rather than getting worse.
        asymptote = min(1 / (1 + math.exp(-logit)), INITIAL_ERROR)
        return Profile(asymptote, min(max(rate, 0.1), 5.0), self.cost(arch_seq))

    def progress_per_epoch(self, global_batch_size: float) -> float:
        """Small-batch epochs that one epoch at ``global_batch_size`` is worth."""
        return 1.0 / (1.0 + global_batch_size / self.critical_batch_size)

    def train(
        self,
        arch_seq: Sequence[int],
        hyperparameters: Mapping[str, Any],
        initial_epoch: int,
        epochs: int,
        *,
        width: int = 1,
        progress: float | None = None,
        key: str | None = None,
    ) -> SegmentCurve:
        """The objective after epochs ``initial_epoch + 1 .. epochs`` on ``width`` ranks.

        Args:
            progress: progress at ``initial_epoch`` (the end of the segment continued);
                None: ``initial_epoch`` epochs at this segment's global batch.
            key: the identity whose noise the curve carries (a continued segment keeps
                its first segment's, even if a scheduler changed a hyperparameter since);
                None: this configuration's.
        """
        key = self.identity(arch_seq, hyperparameters) if key is None else key
        profile = self.profile(arch_seq, hyperparameters, key)
        step = self.progress_per_epoch(_batch_size(hyperparameters) * width)
        progress = initial_epoch * step if progress is None else progress
        values = []
        for epoch in range(initial_epoch + 1, epochs + 1):
            progress += step
            error = profile.asymptote + (INITIAL_ERROR - profile.asymptote) * (1 + progress) ** (
                -profile.rate
            )
            error += self.noise * _normal(self.seed, "noise", key, epoch)
            error = min(max(error, 0.0), 1.0)
            values.append(1.0 - error if self.direction == "max" else error)
        return SegmentCurve(values, progress)

    def best(self, values: Sequence[float]) -> float | None:
        """The best value of a curve in the objective's direction (None if empty)."""
        if not values:
            return None
        return max(values) if self.direction == "max" else min(values)


def training_value(hyperparameters: Mapping[str, Any], name: str) -> Any:
    """A training hyperparameter of a configuration, or the trainer's default for it."""
    return hyperparameters.get(name, TRAINING_HYPERPARAMETERS[name].default)


def _learning_rate(hyperparameters: Mapping[str, Any]) -> float:
    return float(training_value(hyperparameters, "learning_rate"))


def _batch_size(hyperparameters: Mapping[str, Any]) -> int:
    return int(training_value(hyperparameters, "batch_size"))


def _normal(*parts: Any) -> float:
    """A standard-normal number that is a fixed function of ``parts`` (any platform)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    # 53 random bits, kept off 0 and 1 so that the inverse CDF is finite.
    unit = ((struct.unpack("<Q", digest)[0] >> 11) + 0.5) / 2.0**53
    return _STANDARD_NORMAL.inv_cdf(unit)


@lru_cache(maxsize=4096)
def _arch_effect(seed: int, what: str, arch_seq: tuple[int, ...]) -> float:
    """An additive effect of the decisions, standard normal over random architectures."""
    if not arch_seq:
        return 0.0
    total = sum(_decision_effect(seed, what, index, value) for index, value in enumerate(arch_seq))
    return total / math.sqrt(len(arch_seq))


@lru_cache(maxsize=65536)
def _decision_effect(seed: int, what: str, index: int, value: int) -> float:
    # Cached: spaces have few (decision, choice) pairs, and searches draw them again and again.
    return _normal(seed, what, index, value)
