"""Search algorithms: pure ask/tell objects that propose configurations.

Example:
    >>> from nas.search import RegularizedEvolution, Observation
    >>> search = RegularizedEvolution(space.choices, problem.hyperparameters, seed=0)
    >>> proposal = search.ask(1)[0]
    >>> search.tell([Observation(proposal.arch_seq, proposal.hyperparameters, score=0.93)])
"""

from nas.search._agebo import AgEBO
from nas.search._ambs import AMBS
from nas.search._base import Observation, Proposal, Search
from nas.search._grid import GridSearch
from nas.search._random import RandomSearch
from nas.search._regularized_evolution import RegularizedEvolution

__all__ = [
    "AMBS",
    "AgEBO",
    "GridSearch",
    "Observation",
    "Proposal",
    "RandomSearch",
    "RegularizedEvolution",
    "Search",
]
