"""Distillation: a student learns a teacher model's beliefs beside the true labels."""

from __future__ import annotations

from digitlab.store.run_config import TrainConfig
from digitlab.training.architectures import NUM_CLASSES


def teacher_targets(config: TrainConfig, classes: int = NUM_CLASSES):
    """A dataset map giving each (augmented) image a target mixed from its label and a teacher's belief.

    Distillation: a larger model (an ensemble, typically) knows which wrong digits a drawing resembles;
    learning those probabilities lets one small network approach the ensemble's accuracy at its own
    speed. Starting from one of the teacher's own members, it also keeps what the member knew about
    MNIST while it learns pen digits and "not a digit" (fine-tuning on hard labels alone forgets some).
    The teacher is trusted only where it reads the label: a wrong belief (a pen digit an MNIST-only
    teacher misreads) or one it cannot have ("not a digit" for a 10-output teacher) is replaced by the
    label alone. Only a registered model is used, loaded with safe_mode like every other.
    """
    import tensorflow as tf

    from digitlab.store.registry import load_entry, resolve_model

    teacher = load_entry(resolve_model(config.teacher))
    weight = config.teacher_weight

    def targets(images, labels):
        beliefs = tf.stop_gradient(teacher(images, training=False))
        missing = classes - beliefs.shape[-1]
        if missing > 0:
            beliefs = tf.pad(beliefs, [[0, 0], [0, missing]])
        labelled = tf.one_hot(labels, classes)
        agrees = tf.equal(tf.argmax(beliefs, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
        mixed = (1.0 - weight) * labelled + weight * beliefs
        return images, tf.where(agrees[:, None], mixed, labelled)

    return targets
