"""Export the best architectures of a search as ready models."""

from nas.export._export import ExportedModel, export_best

__all__ = ["ExportedModel", "export_best"]
