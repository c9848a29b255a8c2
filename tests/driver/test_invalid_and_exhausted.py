"""The driver records what cannot be built without training it, and a search that has
evaluated every configuration of its space ends the study before its budget."""

from __future__ import annotations

from nas import Study
from nas.driver import read_journal
from nas.evaluate import SimulatedEvaluator
from nas.problem import Dataset, Problem
from nas.search import AMBS, Proposal, Search
from nas.space import AddByPadding, ConstantNode, Identity, Layer, SearchSpace, VariableNode, Zero


def no_data() -> Dataset:  # the simulated evaluator trains on nothing
    raise AssertionError("not loaded")


def switchable_space() -> SearchSpace:
    """x -> n (Zero | Identity) -> merge, with a skip from x: both off cuts the output."""
    space = SearchSpace({"x": (4,)})
    x = space.input()
    n = space.add(VariableNode([Zero(), Identity()], "n"), x)
    merge = space.add(ConstantNode(AddByPadding(), "merge"), n)
    space.add_skip_connections(merge, [x])
    space.add(ConstantNode(Layer("Dense", units=2)), merge)
    return space


def three_by_three_space() -> SearchSpace:
    space = SearchSpace({"x": (4,)})
    widths = [Layer("Dense", units=units) for units in (2, 4, 8)]
    first = space.add(VariableNode(widths), space.input())
    space.add(VariableNode([Layer("Dense", units=u) for u in (2, 3, 5)]), first)
    return space


def problem_of(space) -> Problem:
    return Problem("spaces", no_data, space, loss="mse", hyperparameters={"epochs": 3})


class Given(Search):
    """Proposes the given architectures in order, valid or not (as a user's search may)."""

    def __init__(self, choices, hyperparameters=None, seed=None, arch_seqs=()):
        super().__init__(choices, hyperparameters, seed)
        self.arch_seqs = [tuple(arch_seq) for arch_seq in arch_seqs]

    def ask(self, n=1):
        asked, self.arch_seqs = self.arch_seqs[:n], self.arch_seqs[n:]
        return [Proposal(arch_seq, {}) for arch_seq in asked]


class Counting(SimulatedEvaluator):
    submitted: list = []

    def submit(self, config):
        self.submitted.append(tuple(config.arch_seq))
        super().submit(config)


def test_an_architecture_that_cannot_be_built_is_recorded_invalid_and_never_trained(tmp_path):
    problem = problem_of(switchable_space)
    search = Given.for_problem(problem, arch_seqs=[(1, 1), (0, 0), (0, 1)])
    evaluator = Counting.for_problem(problem, 2)
    evaluator.submitted = []
    results = Study(
        problem, tmp_path, search, 3, evaluator=evaluator, keep_models=0, progress=False
    ).run()
    by_arch = {tuple(t.config.arch_seq): t.result for t in results.trials}
    assert len(results.trials) == 3
    assert by_arch[(0, 0)].status.value == "invalid"
    assert "output" in by_arch[(0, 0)].error and by_arch[(0, 0)].error_stage is None
    assert by_arch[(1, 1)].ok and by_arch[(0, 1)].ok
    assert sorted(evaluator.submitted) == [(0, 1), (1, 1)]  # no worker time for (0, 0)
    # The journal holds it like any trial, so a resume neither loses nor repeats it.
    assert sorted(t.config.trial_id for t in read_journal(tmp_path).finished) == [0, 1, 2]
    assert "invalid" in (tmp_path / "results.csv").read_text()


def test_a_search_that_evaluated_the_whole_space_ends_the_study_early(tmp_path):
    problem = problem_of(three_by_three_space)
    search = AMBS.for_problem(problem, num_initial=3, seed=0)
    results = Study(
        problem,
        tmp_path,
        search,
        20,
        evaluator=SimulatedEvaluator.for_problem(problem, 2),
        keep_models=0,
        progress=False,
    ).run()
    assert len(results.trials) == 9 and results.exhausted and results.num_distinct == 9
    assert results.stop_reason is None
    assert len({tuple(t.config.arch_seq) for t in results.trials}) == 9
