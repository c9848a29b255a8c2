"""Plots of a search: objective over evaluations and time, worker utilisation, and the
lineage of a population-based training."""

from nas.plot._pbt_lineage import plot_pbt_lineage
from nas.plot._search_plots import PLOTS, plot_objective, plot_search, plot_utilisation

__all__ = ["PLOTS", "plot_objective", "plot_pbt_lineage", "plot_search", "plot_utilisation"]
