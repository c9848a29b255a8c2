"""nas: neural architecture search for scientists who train on clusters.

Example:
    >>> import nas
    >>> from nas.search import RegularizedEvolution
    >>> search = RegularizedEvolution.for_problem(problem, population_size=20, seed=0)
    >>> results = nas.Study(problem, "runs/mine", search, max_evals=50).run()
    >>> nas.load_results("runs/mine").to_dataframe()
"""

from nas.driver import Callback, SearchResults, Study, run_search
from nas.exceptions import NASError, ProblemError, SpaceError, TrainingError
from nas.results import load_results

__version__ = "0.1.0"

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
