"""How well a model reads labelled drawings (the drawing bank's, or any set of 28x28 images with labels)."""

from __future__ import annotations

from digitlab.evaluation.metrics import Evaluation, evaluate_probabilities


def evaluate_drawings(predictor, drawings, model_sha256: str | None = None) -> Evaluation:
    """The Evaluation of predictor on drawings: anything with x ((n, 28, 28) uint8) and y (labels).

    The bank hands over its DrawingDataset; evaluation sits below the bank, so it asks for the arrays,
    not for the bank.
    """
    probabilities = predictor.predict_mnist(drawings.x)
    return evaluate_probabilities(probabilities, drawings.y, model_sha256)
