"""Plots of a search: objective over evaluations and time, worker utilisation."""

from nas.plot._search_plots import PLOTS, plot_objective, plot_search, plot_utilisation

__all__ = ["PLOTS", "plot_objective", "plot_search", "plot_utilisation"]
