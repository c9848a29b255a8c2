"""Search algorithms: pure ask/tell objects that propose configurations.

Example:
    >>> from nas.search import RegularizedEvolution, Observation
    >>> search = RegularizedEvolution(space.choices, problem.hyperparameters, seed=0)
    >>> proposal = search.ask(1)[0]
    >>> search.tell([Observation(proposal.arch_seq, proposal.hyperparameters, score=0.93)])
"""

from nas.registry import Registry
from nas.search._agebo import AgEBO
from nas.search._ambs import AMBS
from nas.search._base import Observation, Proposal, Search
from nas.search._grid import GridSearch
from nas.search._random import RandomSearch
from nas.search._regularized_evolution import RegularizedEvolution

#: Search algorithms by the name ``nas-search --search`` takes. Register your own class
#: (made as ``cls(choices, hyperparameters, seed=..., **options)``) to name it too.
SEARCHES: Registry[type[Search]] = Registry(
    "search",
    {
        "random": RandomSearch,
        "regevo": RegularizedEvolution,
        "agebo": AgEBO,
        "ambs": AMBS,
        "grid": GridSearch,
    },
)

__all__ = [
    "AMBS",
    "SEARCHES",
    "AgEBO",
    "GridSearch",
    "Observation",
    "Proposal",
    "RandomSearch",
    "RegularizedEvolution",
    "Search",
]
