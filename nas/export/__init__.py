"""Export the best architectures of a search, or its Pareto front, as ready models."""

from nas.export._export import ExportedModel, export_best, export_pareto

__all__ = ["ExportedModel", "export_best", "export_pareto"]
