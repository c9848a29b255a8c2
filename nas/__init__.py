"""nas: neural architecture search for scientists who train on clusters."""

from nas.exceptions import NASError, ProblemError, SpaceError, TrainingError

__version__ = "0.1.0"

__all__ = ["NASError", "ProblemError", "SpaceError", "TrainingError", "__version__"]
