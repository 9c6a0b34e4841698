"""Whether a finished training run learned: a warning for a run that did not, instead of a green "Finished".

A run can end without an error and still be useless: a short run of a batch-norm network whose
statistics never settled predicts at chance, and a run on a few images can memorise them and read
little else. Either is worth a plain warning before anyone promotes the model.
"""

from __future__ import annotations

CHANCE_ACCURACY = 0.1  # ten digits, guessed
NEAR_CHANCE_ACCURACY = 0.2  # test accuracy below this means the model has learned next to nothing
MAX_ACCURACY_GAP = 0.15  # test accuracy this far below training accuracy means it memorised its images


def run_warning(test_accuracy: float | None, training_accuracy: float | None = None) -> str | None:
    """A warning for a finished run whose model did not learn to read digits, or None when it did.

    test_accuracy is measured on MNIST test; training_accuracy is the last epoch's accuracy on the
    run's own training images (None when unknown). Both are fractions from 0 to 1.
    """
    if test_accuracy is None:
        return None
    if test_accuracy < NEAR_CHANCE_ACCURACY:
        return (f"This model reads only {test_accuracy:.0%} of MNIST test digits, about what guessing gets "
                f"({CHANCE_ACCURACY:.0%}). It has not learned to read digits: train for more epochs or on more "
                "images before using it.")
    if training_accuracy is not None and training_accuracy - test_accuracy > MAX_ACCURACY_GAP:
        return (f"This model reads {test_accuracy:.0%} of MNIST test digits but {training_accuracy:.0%} of its "
                "training images: it has memorised them rather than learned digits. Train on more images "
                "or with augmentation before using it.")
    return None
