"""The learned number reader: a convolutional network over a number's columns with a CTC output.

It reads a whole number at once (digitlab/serving/sequence_reading.py says what it is given and how its
answer becomes digits), so digits that touch or cross need no cut between them. It learns from numbers
the training writers wrote (digitlab/datasets/number_lines.py) and is measured on numbers by the
held-out writers. Not yet served: `predict --number` and Number mode still cut the ink into digits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.datasets.number_lines import TIGHT_GAPS, WIDE_GAPS, NumberLines, number_lines
from digitlab.datasets.pendigits import PenDigit
from digitlab.serving.sequence_reading import READER_HEIGHT, READER_WIDTH, decode_readings
from digitlab.store.atomic import save_model_atomic, write_json_atomic

CLASSES = 11  # the blank and ten digits
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MODEL_FILE = "number_reader.keras"
FIGURES_FILE = "figures.json"


def number_reader_network():
    """Four convolution blocks bring the 32-pixel-high strip down to one row of 64 columns; two wide
    convolutions along the row let each column see its neighbours' digits; each column scores 11 classes."""
    import keras
    from keras import layers

    x = strip = keras.Input((READER_HEIGHT, READER_WIDTH, 1))
    for filters, pool in ((32, (2, 2)), (64, (2, 2)), (96, (2, 1)), (128, (2, 1))):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.Permute((2, 1, 3))(x)  # (columns, rows, channels): each column's features side by side
    x = layers.Reshape((READER_WIDTH // 4, (READER_HEIGHT // 16) * 128))(x)
    for _ in range(2):
        x = layers.Conv1D(192, 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(strip, layers.Dense(CLASSES)(x), name="number_reader")


def exact_share(model, lines: NumberLines) -> float:
    """The share of lines whose every digit the model reads, and no more."""
    readings = decode_readings(model.predict(lines.strips[..., None], batch_size=256, verbose=0))
    return round(float(np.mean([reading == text for reading, text in zip(readings, lines.texts)])), 4)


def train_number_reader(out: Path, training: list[PenDigit], held_out: list[PenDigit], numbers: int, epochs: int,
                        measured: int = 500, seed: int = 0, report: Callable[[str], None] = print) -> dict:
    """Train on `numbers` numbers by the training writers; after each epoch read `measured` numbers by the
    held-out writers of each kind. Writes out/number_reader.keras and out/figures.json; returns the figures."""
    out.mkdir(parents=True, exist_ok=False)  # before TensorFlow loads: a taken folder is refused at once
    import keras

    started = time.monotonic()
    lines = number_lines(training, numbers, seed)
    measures = {  # held-out writers only; seeds apart from the training numbers'
        "four_digits_tight": number_lines(held_out, measured, seed + 7, lengths=(4,), gap_range=TIGHT_GAPS),
        "four_digits_wide": number_lines(held_out, measured, seed + 8, lengths=(4,), gap_range=WIDE_GAPS),
        "one_to_eight_digits_tight": number_lines(held_out, measured, seed + 9, gap_range=TIGHT_GAPS),
    }
    report(f"{numbers} training numbers and {3 * measured} held-out ones drawn in {time.monotonic() - started:.0f} s")
    keras.utils.set_random_seed(seed)
    model = number_reader_network()
    steps = epochs * max(1, numbers // BATCH_SIZE)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
                  loss=keras.losses.CTC())
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.monotonic()
        model.fit(lines.strips[..., None], lines.labels, batch_size=BATCH_SIZE, epochs=1, verbose=0, shuffle=True)
        shares = {name: exact_share(model, measure) for name, measure in measures.items()}
        history.append({"epoch": epoch, "seconds": round(time.monotonic() - epoch_started), **shares})
        report(f"epoch {epoch}: " + ", ".join(f"{name} {share:.1%}" for name, share in shares.items()))
    save_model_atomic(model, out / MODEL_FILE)
    figures = {"training_numbers": numbers, "training_writers": sorted({d.writer for d in training}),
               "held_out_writers": sorted({d.writer for d in held_out}), "measured_per_kind": measured,
               "epochs": history, "parameters": model.count_params(), "seed": seed,
               "seconds": round(time.monotonic() - started)}
    write_json_atomic(out / FIGURES_FILE, figures)
    return figures
