"""retrain-gate: decide when a perception model is worth retraining."""

__version__ = "0.1.0"
