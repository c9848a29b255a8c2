"""Plots of a search: objective over evaluations and time, worker utilisation, the
lineage of a population-based training and, for several objectives, the Pareto front and
the hypervolume over evaluations."""

from nas.plot._pbt_lineage import plot_pbt_lineage
from nas.plot._search_plots import (
    PARETO_PLOTS,
    PLOTS,
    HypervolumeCurve,
    hypervolume_curve,
    hypervolume_reference,
    plot_hypervolume,
    plot_objective,
    plot_pareto_front,
    plot_search,
    plot_utilisation,
)

__all__ = [
    "PARETO_PLOTS",
    "PLOTS",
    "HypervolumeCurve",
    "hypervolume_curve",
    "hypervolume_reference",
    "plot_hypervolume",
    "plot_objective",
    "plot_pareto_front",
    "plot_pbt_lineage",
    "plot_search",
    "plot_utilisation",
]
