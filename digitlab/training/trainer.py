"""One training run: trains the config a run folder holds and writes its progress there.

Runs as its own process, `python -m digitlab train --run-dir DIR`, started by digitlab.training.jobs after the
parent wrote DIR/config.json; `python -m digitlab train --arch ...` creates the folder itself first.
The folder's files and formats belong to digitlab.store.run_folder.
"""

from __future__ import annotations

import os
import math
import time
import traceback
from pathlib import Path

import numpy as np

from digitlab.store import run_folder as runs
from digitlab.training.architectures import NUM_CLASSES
from digitlab.training.run_lock import inherited_training_lock
from digitlab.store.run_config import TrainConfig
from digitlab.store.flatbuffers import CARD_KEY as FLATBUFFER_CARD_KEY, write_flatbuffer
from digitlab.bank.snapshot import read_bank_drawings
from digitlab.store.run_records import RunStatus
from digitlab.training.progress import make_progress_callback
from digitlab.training.distillation import teacher_targets
from digitlab.training.bank_fine_tune import compare_before_after
from digitlab.training.input_pipeline import TrainingImages, make_dataset
from digitlab.training.memory_budget import estimate_run_memory, peak_memory_mb

# Test images per prediction step: 1,000 at once held 300 MB of digitnet's activations, for the same answers.
TEST_BATCH = 256


def served_test_accuracy(model_path: Path, model_sha256: str | None, litert: dict, mnist) -> float | None:
    """MNIST test accuracy of the LiteRT flatbuffer the app serves, measured as Evaluate does; None without one."""
    from digitlab.serving.litert import LiteRuntimeUnavailable
    from digitlab.serving.predictor import Predictor
    from digitlab.store.flatbuffers import FlatbufferRefused, read_flatbuffer

    try:
        predictor = Predictor.from_flatbuffer(read_flatbuffer(model_path, {"sha256": model_sha256,
                                                                           FLATBUFFER_CARD_KEY: litert}))
    except (FlatbufferRefused, LiteRuntimeUnavailable):
        return None  # served from its .keras file: the float weights' accuracy is the served one
    probabilities = predictor.predict_mnist(mnist.x_test)
    return float((probabilities.argmax(axis=1) == mnist.y_test).mean())


def split_data(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    """Shuffle (seeded), apply the limit and hold out the validation share."""
    order = np.random.default_rng(config.seed).permutation(len(x))
    if config.limit is not None:
        order = order[: config.limit]
    n_val = max(1, int(round(len(order) * config.validation_fraction)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def run_training(config: TrainConfig, run_dir: str | Path) -> RunStatus:
    """Create a run folder for config at run_dir and train it here (the CLI's and the tests' way)."""
    run_dir = runs.create_run(config, run_dir=Path(run_dir))
    return train_run(run_dir)


def train_run(run_dir: str | Path) -> RunStatus:
    """Train the config run_dir holds, writing the run folder as it goes; return the final status."""
    # Launched by start_run, this process holds the training lock; it is released as soon as the final status is
    # written, so the next run need not wait for the interpreter to exit.
    with inherited_training_lock():
        return _train_run_folder(Path(run_dir))


def _train_run_folder(run_dir: Path) -> RunStatus:
    started = time.time()
    try:
        config = runs.read_config(run_dir)
    except ValueError as error:
        return runs.update_status(run_dir, state="failed", pid=os.getpid(), started_at=started, finished_at=started,
                                  elapsed=0.0, message=f"The run's config cannot be trained: {error}")
    runs.update_status(run_dir, state="running", pid=os.getpid(), started_at=started, progress=0.0, epoch=0,
                       batch=0, message="Loading data")
    try:
        return _train(config, run_dir, started)
    except Exception as error:  # a run that breaks must say so in its status, never look alive
        traceback.print_exc()
        return runs.update_status(run_dir, state="failed", finished_at=time.time(), elapsed=time.time() - started,
                                  eta=None, message=f"{type(error).__name__}: {error}")


def _train(config: TrainConfig, run_dir: Path, started: float) -> RunStatus:
    if config.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    import keras
    import tensorflow as tf

    if config.threads:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(config.seed)

    from digitlab.datasets.mnist import load_mnist
    from digitlab.training.architectures import build_model
    from digitlab.training.precise_batch_norm import PRECISE_BATCH_NORM_IMAGES, PreciseBatchNorm

    mnist = load_mnist()
    x_train, y_train, x_val, y_val = split_data(mnist.x_train, mnist.y_train, config)
    train = TrainingImages.of(x_train, y_train)
    if config.augment:
        from digitlab.training.augmentation import style_variants

        train = train.plus(*style_variants(x_train, y_train, seed=config.seed))
    described: dict = {}
    if config.pen_digits or config.non_digits or config.unipen:
        from digitlab.datasets.training_mix import extra_training_images

        runs.update_status(run_dir, message="Drawing pen digits and non-digits")
        extra_x, extra_y, described = extra_training_images(
            config.pen_digits, config.pen_copies, config.non_digits, seed=config.seed, unipen=config.unipen,
            unipen_copies=config.unipen_copies, letter_copies=config.letter_copies, style_copies=config.style_copies)
        train = train.plus(extra_x, extra_y)
    bank = read_bank_drawings(run_dir) if config.bank_weight else None
    if bank is not None:  # each drawing kept once and listed bank_weight times (digitlab/training/input_pipeline.py)
        train = train.plus(bank.train_x, bank.train_y, repeats=config.bank_weight)
        described["drawing_bank"] = {**bank.describe(), "weight": config.bank_weight}
    if described:
        runs.update_status(run_dir, extra_training_data=described)
    estimate = estimate_run_memory(config, bank_drawings=len(bank.train_y) if bank is not None else 0)
    runs.update_status(run_dir, memory_estimate_mb=round(estimate.total_mb), peak_memory_mb=round(peak_memory_mb()))
    train_data = make_dataset(train, config.batch_size, config.seed, training=True, augment=config.augment)
    val_data = make_dataset(TrainingImages.of(x_val, y_val), config.batch_size, config.seed, training=False)
    batches_per_epoch = math.ceil(len(train) / config.batch_size)

    classes = NUM_CLASSES + 1 if config.learns_not_a_digit else NUM_CLASSES
    if config.init_from is None:
        model = build_model(config.arch, classes, width=config.width)
    else:
        from digitlab.training.starting_weights import load_starting_model, with_classes

        start = load_starting_model(config.init_from, config.init_member)
        model = with_classes(start, max(classes, start.output_shape[-1]), config.arch)
    classes = model.output_shape[-1]
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.lr * 0.1, decay_steps=config.epochs * batches_per_epoch,
        warmup_target=config.lr, warmup_steps=min(batches_per_epoch, 500),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    runs.update_status(run_dir, message="Training", train_images=len(train), validation_images=len(x_val),
                        parameters=model.count_params())
    progress = make_progress_callback(run_dir, config, batches_per_epoch, started)
    one_hot = lambda images, labels: (images, tf.one_hot(labels, classes))  # noqa: E731 - smoothing needs one-hot
    train_targets = one_hot if config.teacher is None else teacher_targets(config, classes)
    model.fit(train_data.map(train_targets), validation_data=val_data.map(one_hot), epochs=config.epochs,
              callbacks=[PreciseBatchNorm(train.first(PRECISE_BATCH_NORM_IMAGES)), progress], verbose=2)

    stopped = runs.stop_requested(run_dir)
    if progress.completed_epochs == 0:
        return runs.update_status(run_dir, state="stopped" if stopped else "failed", eta=None,
                                  finished_at=time.time(), elapsed=time.time() - started,
                                  message=("Stopped" if stopped else "Ended") + " before the first epoch finished: "
                                          "no model was saved.")

    runs.update_status(run_dir, message="Measuring test accuracy")
    saved = keras.models.load_model(run_dir / runs.MODEL_FILE, safe_mode=True, compile=False)
    probabilities = saved.predict(mnist.x_test[..., None].astype(np.float32), batch_size=TEST_BATCH, verbose=0)
    test_accuracy = float((probabilities[:, :NUM_CLASSES].argmax(axis=1) == mnist.y_test).mean())
    from digitlab.training.run_health import run_warning

    warning = run_warning(test_accuracy, runs.read_status(run_dir).train_accuracy)
    if config.init_from is not None or bank is not None:
        runs.update_status(run_dir, message="Comparing with the model it would replace")
        runs.update_status(run_dir, comparison=compare_before_after(config, saved, probabilities, mnist, bank,
                                                                    batch_size=TEST_BATCH))
    runs.update_status(run_dir, message="Writing the LiteRT flatbuffer the app serves it from")
    # Converted here, where TensorFlow is loaded anyway: the server then serves the run without importing it.
    model_sha256 = runs.read_status(run_dir).model_sha256
    try:
        litert = write_flatbuffer(run_dir / runs.MODEL_FILE, model_sha256, lambda: saved)[FLATBUFFER_CARD_KEY]
    except OSError as error:  # a full disk costs the run its flatbuffer (served from .keras instead), not its model
        litert = {"error": f"the flatbuffer could not be written ({error.strerror or error})"}
    # The app and `evaluate` read with the flatbuffer's 8-bit weights, which can disagree with the float weights
    # on a digit or two of 10,000: the accuracy every list shows is the served model's, so it matches Evaluate's.
    runs.update_status(run_dir, message="Measuring the served model's test accuracy")
    served_accuracy = served_test_accuracy(run_dir / runs.MODEL_FILE, model_sha256, litert, mnist)
    test_accuracy = served_accuracy if served_accuracy is not None else test_accuracy
    finished = time.time()
    return runs.update_status(
        run_dir,
        state="stopped" if stopped else "done",
        partial=stopped,
        finished_at=finished,
        elapsed=finished - started,
        test_accuracy=test_accuracy,
        warning=warning,
        litert=litert,
        peak_memory_mb=round(peak_memory_mb()),
        eta=0.0,
        message=(f"Stopped: the model of epoch {progress.completed_epochs} of {config.epochs} is kept (partial)."
                 if stopped else "Finished"),
    )
