"""nas: neural architecture search for scientists who train on clusters.

Example:
    >>> import nas
    >>> from nas.search import RegularizedEvolution
    >>> search = RegularizedEvolution.for_problem(problem, population_size=20, seed=0)
    >>> results = nas.Study(problem, "runs/mine", search, max_evals=50).run()
    >>> nas.load_results("runs/mine").to_dataframe()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas._imports import lazy_names
from nas.exceptions import NASError, ProblemError, SpaceError, TrainingError

if TYPE_CHECKING:
    from nas.driver import Callback, SearchResults, Study, run_search
    from nas.results import load_results

__version__ = "0.1.0"

# Imported on first use: `import nas` stays fast for nas-search (see lazy_names).
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "Callback": "nas.driver",
        "SearchResults": "nas.driver",
        "Study": "nas.driver",
        "run_search": "nas.driver",
        "load_results": "nas.results",
    },
)

__all__ = [
    "Callback",
    "NASError",
    "ProblemError",
    "SearchResults",
    "SpaceError",
    "Study",
    "TrainingError",
    "__version__",
    "load_results",
    "run_search",
]
