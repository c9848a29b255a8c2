"""The driver loop: the one place where a search meets an evaluator.

It owns the budget, the journal, resume and the progress display. It keeps every
worker busy: as soon as a trial finishes, the search is told and asked for the next
config, so evaluations of different lengths never wait for each other.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nas.driver._journal import Journal, JournalState
from nas.driver._model_keeper import ModelKeeper
from nas.driver._results_table import ResultsTable
from nas.evaluate import Evaluator
from nas.problem import Problem
from nas.search import Observation, Search
from nas.space import SearchSpace
from nas.trial import Config, Trial, trial_seed

logger = logging.getLogger("nas.driver")


class Driver:
    """Runs a search to its budget, writing everything to ``directory``.

    Args:
        problem: the problem searched.
        search: the ask/tell search (already told the journal's past, on resume).
        evaluator: where configs are trained.
        directory: the output directory (journal, results.csv).
        max_evals: the number of finished evaluations to reach (failed ones count).
        timeout: wall-clock seconds after which no new evaluation is started and the
            driver returns; evaluations still running are left for ``--resume``.
        seed: the search seed, from which each trial's training seed derives.
        history: what the journal already holds (on resume).
        keep_models: how many of the best trained models to keep in ``directory/models``
            (the evaluator must save them there).
        progress: show a progress bar.
    """

    def __init__(
        self,
        problem: Problem,
        search: Search,
        evaluator: Evaluator,
        directory: Path,
        max_evals: int,
        settings: dict[str, Any],
        timeout: float | None = None,
        seed: int | None = None,
        history: JournalState | None = None,
        keep_models: int = 0,
        progress: bool = True,
    ) -> None:
        self.problem = problem
        self.space: SearchSpace = problem.build_space()
        self.search = search
        self.evaluator = evaluator
        self.max_evals = max_evals
        self.timeout = timeout
        self.seed = seed
        history = history or JournalState()
        self.trials: list[Trial] = list(history.finished)
        self._pending: list[Config] = history.unfinished  # re-run each exactly once
        self._next_trial_id = history.next_trial_id
        self._progress = progress
        self.journal = Journal(directory)
        self.journal.start(settings)
        self.table = ResultsTable(directory, problem.hyperparameters.names)
        self.table.append(self.trials, [self._hash(t) for t in self.trials])
        self.keeper = ModelKeeper(directory, keep_models)
        past = [observation(trial, problem) for trial in self.trials]
        self.keeper.update(zip(self.trials, (item.score for item in past)))
        self._best_score: float | None = None
        self._num_failed = 0
        self._account(past)

    def run(self) -> list[Trial]:
        """Run until ``max_evals`` trials have finished or the timeout; return all trials."""
        deadline = math.inf if self.timeout is None else time.monotonic() + self.timeout
        bar = tqdm(
            total=self.max_evals,
            initial=len(self.trials),
            disable=not self._progress,
            unit="eval",
            dynamic_ncols=True,
        )
        try:
            while len(self.trials) < self.max_evals:
                out_of_time = time.monotonic() >= deadline
                if not out_of_time:
                    self._fill_free_workers()
                if self.evaluator.num_running == 0:
                    break
                wait = None if math.isinf(deadline) else max(0.0, deadline - time.monotonic())
                finished = self.evaluator.collect(timeout=0 if out_of_time else wait)
                if out_of_time and not finished:
                    logger.info("timeout reached: stopping; running evaluations can be resumed")
                    break
                self._record(finished)
                bar.update(len(finished))
                bar.set_postfix_str(self._summary(), refresh=False)
        finally:
            bar.close()
            self.journal.close()
            self.table.close()
        return self.trials

    def _fill_free_workers(self) -> None:
        room = self.max_evals - len(self.trials) - self.evaluator.num_running
        free = min(self.evaluator.num_free, room)
        if free <= 0:
            return
        configs = [self._pending.pop(0) for _ in range(min(free, len(self._pending)))]
        if len(configs) < free:
            # One ask for all free workers, so that model-based searches can spread them.
            for proposal in self.search.ask(free - len(configs)):
                trial_id = self._next_trial_id
                self._next_trial_id += 1
                configs.append(
                    Config(
                        trial_id,
                        proposal.arch_seq,
                        dict(proposal.hyperparameters),
                        trial_seed(self.seed, trial_id),
                    )
                )
        state = self.search.get_state()
        for config in configs:
            self.journal.submit(config, state)
            self.evaluator.submit(config)

    def _record(self, finished: Sequence[Trial]) -> None:
        for trial in finished:
            self.journal.finish(trial)
        self.table.append(finished, [self._hash(trial) for trial in finished])
        self.trials.extend(finished)
        observations = [observation(trial, self.problem) for trial in finished]
        self._account(observations)
        self.keeper.update((t, o.score) for t, o in zip(finished, observations))
        self.search.tell(observations)

    def _account(self, observations: Sequence[Observation]) -> None:
        """Running totals for the progress display (kept incrementally: 10,000s of trials)."""
        for item in observations:
            if item.score is None:
                self._num_failed += 1
            elif self._best_score is None or item.score > self._best_score:
                self._best_score = item.score

    def _hash(self, trial: Trial) -> str:
        try:
            return self.space.arch_hash(trial.config.arch_seq)
        except ValueError:  # an architecture the space cannot resolve is still recorded
            return ""

    def _summary(self) -> str:
        best = "-"
        if self._best_score is not None:  # scores are maximised: undo the sign for "min"
            value = self._best_score if self.problem.direction == "max" else -self._best_score
            best = f"{value:.4g}"
        return f"best {self.problem.objective}={best} failed={self._num_failed}"


def observation(trial: Trial, problem: Problem) -> Observation:
    """What the search learns from a trial: a score to maximise, None if it failed."""
    result = trial.result
    score = None
    if result.ok and result.objective is not None and math.isfinite(result.objective):
        score = result.objective if problem.direction == "max" else -result.objective
    return Observation(trial.config.arch_seq, dict(trial.config.hyperparameters), score)


def best_trials(trials: Sequence[Trial], problem: Problem, k: int) -> list[Trial]:
    """The ``k`` best successful trials, best first (ties: the earlier one first)."""
    scored = [(observation(trial, problem).score, trial) for trial in trials]
    ranked = sorted((item for item in scored if item[0] is not None), key=lambda i: -i[0])
    return [trial for _, trial in ranked[:k]]
