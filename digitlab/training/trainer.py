"""One training run: trains the config a run folder holds and writes its progress there.

Runs as its own process, `python -m digitlab train --run-dir DIR`, started by digitlab.training.jobs after the
parent wrote DIR/config.json; `python -m digitlab train --arch ...` creates the folder itself first.
The folder's files and formats belong to digitlab.store.run_folder.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from pathlib import Path

import numpy as np

from digitlab.store import run_folder as runs
from digitlab.store.atomic import file_sha256
from digitlab.training.architectures import NUM_CLASSES
from digitlab.store.run_folder import TrainConfig

BATCH_ROW_EVERY = 10  # batches between history rows: enough for a live curve, little I/O
ETA_AFTER_SHARE = 0.05  # no time-left estimate before this share of the batches: the first are slow


def split_data(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    """Shuffle (seeded), apply the limit and hold out the validation share."""
    order = np.random.default_rng(config.seed).permutation(len(x))
    if config.limit is not None:
        order = order[: config.limit]
    n_val = max(1, int(round(len(order) * config.validation_fraction)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def estimate_time_left(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the rate so far; None until enough batches have run for the rate to mean something."""
    if total <= 0 or done < max(1, ETA_AFTER_SHARE * total):
        return None
    return elapsed / done * (total - done)


def make_progress_callback(run_dir: Path, config: TrainConfig, batches_per_epoch: int, started: float):
    """A Keras callback that writes history rows and status, and stops the run when asked."""
    import keras

    class RunProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history = runs.HistoryWriter(run_dir)
            self.epoch = 0
            self.best_val_accuracy = None
            self.completed_epochs = 0

        def _row(self, kind: str, batch: int, logs: dict) -> None:
            row = {"kind": kind, "epoch": self.epoch + 1, "batch": batch,
                   "step": self.epoch * batches_per_epoch + batch, "elapsed": round(time.time() - started, 3)}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if key in logs:
                    row[key] = round(float(logs[key]), 6)
            self.history.write(row)

        def _progress(self, batch: int) -> dict:
            done = self.epoch * batches_per_epoch + batch
            total = config.epochs * batches_per_epoch
            elapsed = time.time() - started
            return {"epoch": self.epoch + 1, "batch": batch, "batches_per_epoch": batches_per_epoch,
                    "progress": done / total, "elapsed": elapsed, "eta": estimate_time_left(done, total, elapsed)}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if runs.stop_requested(run_dir):
                self.model.stop_training = True
            if (batch + 1) % BATCH_ROW_EVERY == 0:
                self._row("batch", batch + 1, logs or {})
                runs.update_status(run_dir, **self._progress(batch + 1))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if self.model.stop_training and runs.stop_requested(run_dir):
                return  # an epoch cut short by Stop is not a completed epoch: no epoch row, keep the last model
            self._row("epoch", batches_per_epoch, logs)
            if "val_accuracy" in logs:
                value = float(logs["val_accuracy"])
                self.best_val_accuracy = max(value, self.best_val_accuracy or 0.0)
            model_path = run_dir / runs.MODEL_FILE
            save_model_atomic(self.model, model_path)
            self.completed_epochs = epoch + 1
            runs.update_status(run_dir, completed_epochs=self.completed_epochs, model_sha256=file_sha256(model_path),
                               best_val_accuracy=self.best_val_accuracy,
                               val_accuracy=_finite_or_none(logs.get("val_accuracy")),
                               train_accuracy=_finite_or_none(logs.get("accuracy")),
                               **self._progress(batches_per_epoch))

        def on_train_end(self, logs=None):
            self.history.close()

    return RunProgress()


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def save_model_atomic(model, path: str | Path) -> Path:
    """Save to a temp file beside path, reload it with safe_mode to prove it is whole, then rename."""
    import keras

    from digitlab.store.atomic import write_atomic

    def write(temp: Path) -> None:
        # Keras insists on the .keras suffix, which write_atomic's temp name keeps.
        model.save(temp)
        keras.models.load_model(temp, safe_mode=True, compile=False)

    return write_atomic(path, write)


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


def compare_before_after(config: TrainConfig, after, after_mnist: np.ndarray, mnist, bank) -> dict:
    """This run's model beside the one it would replace, on MNIST test and the bank's held-out writers.

    "Before" is the model the run started from, or the active model for a run trained from scratch.
    """
    from digitlab.training.bank_fine_tune import accuracy, comparison
    from digitlab.store.registry import default_entry, load_entry, resolve_model
    from digitlab.training.starting_weights import load_starting_model

    if config.init_from is not None:
        before = load_starting_model(config.init_from, config.init_member)
        before_name = resolve_model(config.init_from).name + (f" (member {config.init_member})"
                                                                if config.init_member else "")
    else:
        entry = default_entry()
        before, before_name = load_entry(entry), f"{entry.name} (the active model)"
    mnist_images = mnist.x_test[..., None].astype(np.float32)
    sizes = {"mnist_test": len(mnist.y_test)}
    before_scores = {"mnist_test": accuracy(before.predict(mnist_images, batch_size=1000, verbose=0), mnist.y_test)}
    after_scores = {"mnist_test": accuracy(after_mnist, mnist.y_test)}
    held_out_writers: list[str] = []
    if bank is not None and len(bank.held_out_y):
        images = bank.held_out_x[..., None].astype(np.float32)
        sizes["held_out_drawings"] = len(bank.held_out_y)
        before_scores["held_out_drawings"] = accuracy(before.predict(images, batch_size=1000, verbose=0),
                                                      bank.held_out_y)
        after_scores["held_out_drawings"] = accuracy(after.predict(images, batch_size=1000, verbose=0),
                                                     bank.held_out_y)
        held_out_writers = sorted(set(bank.held_out_writers.tolist()))
    return comparison(before_name, before_scores, after_scores, sizes, held_out_writers)


def make_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, training: bool):
    import tensorflow as tf

    from digitlab.training.augmentation import augment_batch

    data = tf.data.Dataset.from_tensor_slices((x[..., None].astype(np.float32), y.astype(np.int32)))
    if training:
        data = data.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    data = data.batch(config.batch_size)
    if training and config.augment:
        data = data.map(lambda images, labels: (augment_batch(images), labels), num_parallel_calls=1)
    return data.prefetch(2)


def run_training(config: TrainConfig, run_dir: str | Path) -> runs.RunStatus:
    """Create a run folder for config at run_dir and train it here (the CLI's and the tests' way)."""
    run_dir = runs.create_run(config, run_dir=Path(run_dir))
    return train_run(run_dir)


def train_run(run_dir: str | Path) -> runs.RunStatus:
    """Train the config run_dir holds, writing the run folder as it goes; return the final status."""
    run_dir = Path(run_dir)
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


def _train(config: TrainConfig, run_dir: Path, started: float) -> runs.RunStatus:
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
    if config.augment:
        from digitlab.training.augmentation import style_variants

        extra_x, extra_y = style_variants(x_train, y_train, seed=config.seed)
        x_train, y_train = np.concatenate([x_train, extra_x]), np.concatenate([y_train, extra_y])
    described: dict = {}
    if config.pen_digits or config.non_digits:
        from digitlab.datasets.training_mix import extra_training_images

        runs.update_status(run_dir, message="Drawing pen digits and non-digits")
        extra_x, extra_y, described = extra_training_images(config.pen_digits, config.pen_copies, config.non_digits,
                                                            seed=config.seed)
        x_train, y_train = np.concatenate([x_train, extra_x]), np.concatenate([y_train, extra_y])
    bank = runs.read_bank_drawings(run_dir) if config.bank_weight else None
    if bank is not None:
        repeats = config.bank_weight
        x_train = np.concatenate([x_train, np.tile(bank.train_x, (repeats, 1, 1))])
        y_train = np.concatenate([y_train, np.tile(bank.train_y, repeats)])
        described["drawing_bank"] = {**bank.describe(), "weight": repeats}
    if described:
        runs.update_status(run_dir, extra_training_data=described)
    train_data = make_dataset(x_train, y_train, config, training=True)
    val_data = make_dataset(x_val, y_val, config, training=False)
    batches_per_epoch = math.ceil(len(x_train) / config.batch_size)

    classes = NUM_CLASSES + 1 if config.non_digits else NUM_CLASSES
    if config.init_from is None:
        model = build_model(config.arch, classes)
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
    runs.update_status(run_dir, message="Training", train_images=len(x_train), validation_images=len(x_val),
                        parameters=model.count_params())
    progress = make_progress_callback(run_dir, config, batches_per_epoch, started)
    one_hot = lambda images, labels: (images, tf.one_hot(labels, classes))  # noqa: E731 - smoothing needs one-hot
    train_targets = one_hot if config.teacher is None else teacher_targets(config, classes)
    model.fit(train_data.map(train_targets), validation_data=val_data.map(one_hot), epochs=config.epochs,
              callbacks=[PreciseBatchNorm(x_train[:PRECISE_BATCH_NORM_IMAGES]), progress], verbose=2)

    stopped = runs.stop_requested(run_dir)
    if progress.completed_epochs == 0:
        return runs.update_status(run_dir, state="stopped" if stopped else "failed", eta=None,
                                  finished_at=time.time(), elapsed=time.time() - started,
                                  message=("Stopped" if stopped else "Ended") + " before the first epoch finished: "
                                          "no model was saved.")

    runs.update_status(run_dir, message="Measuring test accuracy")
    saved = keras.models.load_model(run_dir / runs.MODEL_FILE, safe_mode=True, compile=False)
    probabilities = saved.predict(mnist.x_test[..., None].astype(np.float32), batch_size=1000, verbose=0)
    test_accuracy = float((probabilities[:, :NUM_CLASSES].argmax(axis=1) == mnist.y_test).mean())
    from digitlab.training.run_health import run_warning

    warning = run_warning(test_accuracy, runs.read_status(run_dir).train_accuracy)
    if config.init_from is not None or bank is not None:
        runs.update_status(run_dir, message="Comparing with the model it would replace")
        runs.update_status(run_dir, comparison=compare_before_after(config, saved, probabilities, mnist, bank))
    finished = time.time()
    return runs.update_status(
        run_dir,
        state="stopped" if stopped else "done",
        partial=stopped,
        finished_at=finished,
        elapsed=finished - started,
        test_accuracy=test_accuracy,
        warning=warning,
        eta=0.0,
        message=(f"Stopped: the model of epoch {progress.completed_epochs} of {config.epochs} is kept (partial)."
                 if stopped else "Finished"),
    )
