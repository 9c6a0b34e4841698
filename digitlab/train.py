"""One training run: a config in, a run folder out. Runs as its own process: `python -m digitlab train`.

The run folder is the only channel to the app: the page starts this process and then reads files.
    config.json   the TrainConfig, as run
    status.json   state (running/done/stopped/failed), progress, metrics; rewritten atomically
    history.csv   one row every few batches and one per epoch, flushed as written
    log.txt       what the run printed, tracebacks included
    model.keras   the model of the last completed epoch, saved atomically
    STOP          created by whoever wants the run to stop; checked after every batch
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from digitlab.atomic import read_json, write_json_atomic
from digitlab.models import ARCHITECTURES, DEFAULT_ARCHITECTURE, NUM_CLASSES
from digitlab.registry import file_sha256

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.csv"
LOG_FILE = "log.txt"
MODEL_FILE = "model.keras"
STOP_FILE = "STOP"
HISTORY_COLUMNS = ["kind", "epoch", "batch", "step", "elapsed", "loss", "accuracy", "val_loss", "val_accuracy"]
BATCH_ROW_EVERY = 10  # batches between history rows: enough for a live curve, little I/O


@dataclass
class TrainConfig:
    arch: str = DEFAULT_ARCHITECTURE  # architecture name from digitlab.models
    epochs: int = 3  # passes over the training images
    batch_size: int = 128  # images per gradient step
    lr: float = 1e-3  # peak learning rate (Adam), decayed to zero along a cosine
    augment: bool = True  # random affine and stroke-width changes while training
    seed: int = 0  # seeds shuffling, augmentation and initial weights
    limit: int | None = None  # train on only this many images (validation is taken from them too)
    validation_fraction: float = 0.1  # share of the training images held out to validate each epoch
    threads: int | None = None  # CPU threads TensorFlow may use; None lets it decide
    label_smoothing: float = 0.05  # softens targets so confidences stay honest on odd drawings
    teacher: str | None = None  # a registered .keras model whose probabilities the student also learns
    teacher_weight: float = 0.7  # share of the target taken from the teacher; the rest is the true label
    extra: dict = field(default_factory=dict)  # free-form notes carried into the run's config
    pen_digits: str | None = None  # pendigits-orig.tra: its training writers' drawings are added to MNIST
    pen_copies: int = 3  # times each pen digit is drawn (each with its own size, place and brush)
    non_digits: int = 0  # generated non-digit drawings to add; any adds an 11th output, "not a digit"
    init_from: str | None = None  # a registered .keras model whose weights the run starts from
    init_member: int | None = None  # which member (1-based) of an ensemble init_from to start from

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture '{self.arch}'. Choose one of: {', '.join(ARCHITECTURES)}.")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1.")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1.")
        if not (0 < self.lr < 1):
            raise ValueError("learning rate must be between 0 and 1.")
        if self.limit is not None and self.limit < 20:
            raise ValueError("limit must be at least 20 images.")
        if not (0 < self.validation_fraction < 0.5):
            raise ValueError("validation fraction must be between 0 and 0.5.")
        if not (0 <= self.teacher_weight <= 1):
            raise ValueError("teacher weight must be between 0 and 1.")
        if self.pen_digits is not None and not Path(self.pen_digits).is_file():
            raise ValueError(f"pen digits file {self.pen_digits} not found.")
        if self.pen_copies < 1 or self.non_digits < 0:
            raise ValueError("pen copies must be at least 1 and non-digits at least 0.")


def command_line(config: TrainConfig, out: str | Path) -> list[str]:
    """The exact command that runs this config into `out` (also recorded on model cards)."""
    args = [sys.executable, "-m", "digitlab", "train", "--arch", config.arch, "--epochs", str(config.epochs),
            "--batch-size", str(config.batch_size), "--lr", str(config.lr),
            "--augment" if config.augment else "--no-augment", "--seed", str(config.seed), "--out", str(out)]
    if config.limit is not None:
        args += ["--limit", str(config.limit)]
    if config.threads is not None:
        args += ["--threads", str(config.threads)]
    if config.teacher is not None:
        args += ["--teacher", str(config.teacher), "--teacher-weight", str(config.teacher_weight)]
    if config.pen_digits is not None:
        args += ["--pen-digits", str(config.pen_digits), "--pen-copies", str(config.pen_copies)]
    if config.non_digits:
        args += ["--non-digits", str(config.non_digits)]
    if config.init_from is not None:
        args += ["--init-from", str(config.init_from)]
    if config.init_member is not None:
        args += ["--init-member", str(config.init_member)]
    return args


class RunFiles:
    """Paths and writers of one run folder."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)

    @property
    def status_path(self) -> Path:
        return self.dir / STATUS_FILE

    @property
    def model_path(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def stop_path(self) -> Path:
        return self.dir / STOP_FILE

    def read_status(self) -> dict:
        return read_json(self.status_path, default={}) or {}

    def update_status(self, **changes) -> dict:
        status = self.read_status()
        status.update(changes, updated_at=time.time())
        write_json_atomic(self.status_path, status)
        return status

    def stop_requested(self) -> bool:
        return self.stop_path.exists()


def split_data(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    """Shuffle (seeded), apply the limit and hold out the validation share."""
    order = np.random.default_rng(config.seed).permutation(len(x))
    if config.limit is not None:
        order = order[: config.limit]
    n_val = max(1, int(round(len(order) * config.validation_fraction)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def make_progress_callback(files: RunFiles, config: TrainConfig, batches_per_epoch: int, started: float):
    """A Keras callback that writes history rows and status, and stops the run when asked."""
    import keras

    class RunProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history_file = open(files.dir / HISTORY_FILE, "a", newline="", encoding="utf-8")
            self.writer = csv.DictWriter(self.history_file, HISTORY_COLUMNS)
            if self.history_file.tell() == 0:
                self.writer.writeheader()
            self.epoch = 0
            self.best_val_accuracy = None
            self.completed_epochs = 0

        def _row(self, kind: str, batch: int, logs: dict) -> None:
            row = {"kind": kind, "epoch": self.epoch + 1, "batch": batch,
                   "step": self.epoch * batches_per_epoch + batch, "elapsed": round(time.time() - started, 3)}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if key in logs:
                    row[key] = round(float(logs[key]), 6)
            self.writer.writerow(row)
            self.history_file.flush()

        def _progress(self, batch: int) -> dict:
            done = self.epoch * batches_per_epoch + batch
            total = config.epochs * batches_per_epoch
            elapsed = time.time() - started
            eta = elapsed / done * (total - done) if done else None
            return {"epoch": self.epoch + 1, "batch": batch, "batches_per_epoch": batches_per_epoch,
                    "progress": done / total, "elapsed": elapsed, "eta": eta}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if files.stop_requested():
                self.model.stop_training = True
            if (batch + 1) % BATCH_ROW_EVERY == 0:
                self._row("batch", batch + 1, logs or {})
                files.update_status(**self._progress(batch + 1))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self._row("epoch", batches_per_epoch, logs)
            if "val_accuracy" in logs:
                value = float(logs["val_accuracy"])
                self.best_val_accuracy = max(value, self.best_val_accuracy or 0.0)
            if self.model.stop_training and files.stop_requested():
                return  # an epoch cut short by Stop is not a completed epoch: keep the last one's model
            save_model_atomic(self.model, files.model_path)
            self.completed_epochs = epoch + 1
            files.update_status(completed_epochs=self.completed_epochs, model_sha256=file_sha256(files.model_path), best_val_accuracy=self.best_val_accuracy,
                                val_accuracy=float(logs.get("val_accuracy", float("nan"))), **self._progress(batches_per_epoch))

        def on_train_end(self, logs=None):
            self.history_file.close()

    return RunProgress()


def save_model_atomic(model, path: str | Path) -> Path:
    """Save to a temp file beside path, reload it with safe_mode to prove it is whole, then rename."""
    import keras

    from digitlab.atomic import write_atomic

    def write(temp: Path) -> None:
        # Keras insists on the .keras suffix, which write_atomic's temp name keeps.
        model.save(temp)
        keras.models.load_model(temp, safe_mode=True, compile=False)

    return write_atomic(path, write)


def teacher_targets(config: TrainConfig):
    """A dataset map giving each (augmented) image a target mixed from its label and a teacher's belief.

    Distillation: a larger model (an ensemble, typically) knows which wrong digits a drawing resembles;
    learning those probabilities lets one small network approach the ensemble's accuracy at its own
    speed. Only a registered model is used, loaded with safe_mode like every other.
    """
    import tensorflow as tf

    from digitlab.registry import entry_for_path, load_entry

    teacher = load_entry(entry_for_path(config.teacher))
    weight = config.teacher_weight

    def targets(images, labels):
        beliefs = tf.stop_gradient(teacher(images, training=False))
        return images, (1.0 - weight) * tf.one_hot(labels, 10) + weight * beliefs

    return targets


def make_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, training: bool):
    import tensorflow as tf

    from digitlab.augment import augment_batch

    data = tf.data.Dataset.from_tensor_slices((x[..., None].astype(np.float32), y.astype(np.int32)))
    if training:
        data = data.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    data = data.batch(config.batch_size)
    if training and config.augment:
        data = data.map(lambda images, labels: (augment_batch(images), labels), num_parallel_calls=1)
    return data.prefetch(2)


def run_training(config: TrainConfig, run_dir: str | Path) -> dict:
    """Train per config, writing the run folder as it goes; return the final status."""
    config.validate()
    files = RunFiles(run_dir)
    files.dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    write_json_atomic(files.dir / CONFIG_FILE, {**asdict(config), "command": command_line(config, files.dir)})
    files.update_status(state="running", pid=os.getpid(), arch=config.arch, epochs=config.epochs,
                        started_at=started, progress=0.0, epoch=0, batch=0, message="Loading data")
    try:
        status = _train(config, files, started)
    except Exception as error:  # a run that breaks must say so in its status, never look alive
        traceback.print_exc()
        return files.update_status(state="failed", finished_at=time.time(), elapsed=time.time() - started,
                                   message=f"{type(error).__name__}: {error}")
    return status


def _train(config: TrainConfig, files: RunFiles, started: float) -> dict:
    if config.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(config.threads))
    import keras
    import tensorflow as tf

    if config.threads:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(config.seed)

    from digitlab.data import load_mnist
    from digitlab.models import build_model
    from digitlab.precise_batch_norm import PRECISE_BATCH_NORM_IMAGES, PreciseBatchNorm

    mnist = load_mnist()
    x_train, y_train, x_val, y_val = split_data(mnist.x_train, mnist.y_train, config)
    if config.augment:
        from digitlab.augment import style_variants

        extra_x, extra_y = style_variants(x_train, y_train, seed=config.seed)
        x_train, y_train = np.concatenate([x_train, extra_x]), np.concatenate([y_train, extra_y])
    if config.pen_digits or config.non_digits:
        from digitlab.training_data import extra_training_images

        files.update_status(message="Drawing pen digits and non-digits")
        extra_x, extra_y, described = extra_training_images(config.pen_digits, config.pen_copies, config.non_digits,
                                                            seed=config.seed)
        x_train, y_train = np.concatenate([x_train, extra_x]), np.concatenate([y_train, extra_y])
        files.update_status(extra_training_data=described)
    train_data = make_dataset(x_train, y_train, config, training=True)
    val_data = make_dataset(x_val, y_val, config, training=False)
    batches_per_epoch = math.ceil(len(x_train) / config.batch_size)

    classes = NUM_CLASSES + 1 if config.non_digits else NUM_CLASSES
    if config.init_from is None:
        model = build_model(config.arch, classes)
    else:
        from digitlab.starting_weights import load_starting_model, with_classes

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
    files.update_status(message="Training", train_images=len(x_train), validation_images=len(x_val),
                        parameters=model.count_params())
    progress = make_progress_callback(files, config, batches_per_epoch, started)
    one_hot = lambda images, labels: (images, tf.one_hot(labels, classes))  # noqa: E731 - smoothing needs one-hot
    train_targets = one_hot if config.teacher is None else teacher_targets(config)
    model.fit(train_data.map(train_targets), validation_data=val_data.map(one_hot), epochs=config.epochs,
              callbacks=[PreciseBatchNorm(x_train[:PRECISE_BATCH_NORM_IMAGES]), progress], verbose=2)

    stopped = files.stop_requested()
    if progress.completed_epochs == 0:
        state = "stopped" if stopped else "failed"
        return files.update_status(state=state, finished_at=time.time(), elapsed=time.time() - started,
                                   message="Stopped before the first epoch finished: no model was saved.")

    files.update_status(message="Measuring test accuracy")
    saved = keras.models.load_model(files.model_path, safe_mode=True, compile=False)
    probabilities = saved.predict(mnist.x_test[..., None].astype(np.float32), batch_size=1000, verbose=0)
    test_accuracy = float((probabilities[:, :NUM_CLASSES].argmax(axis=1) == mnist.y_test).mean())
    finished = time.time()
    return files.update_status(
        state="stopped" if stopped else "done",
        partial=stopped,
        finished_at=finished,
        elapsed=finished - started,
        test_accuracy=test_accuracy,
        eta=0.0,
        message=(f"Stopped: the model of epoch {progress.completed_epochs} of {config.epochs} is kept (partial)."
                 if stopped else "Finished"),
    )
