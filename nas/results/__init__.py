"""The results of a search, finished or running, loaded from its folder.

* :func:`load_results` — a search's folder as :class:`Results`: typed
  :class:`TrialRecord` objects in trial order, ``best(k)``, :class:`Progress` and
  ``to_dataframe()`` (with ``pip install 'nas[pandas]'``).

``nas-status DIR`` prints the same as a live summary.

Example:
    >>> import nas
    >>> results = nas.load_results("runs/wine")
    >>> for trial in results.best(3):
    ...     print(trial.trial_id, trial.objective, trial.hyperparameters)
    >>> frame = results.to_dataframe()
"""

from nas.results._load import load_results
from nas.results._progress import Progress
from nas.results._record import TrialRecord
from nas.results._results import Results

__all__ = ["Progress", "Results", "TrialRecord", "load_results"]
