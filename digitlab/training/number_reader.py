"""The learned number reader: a convolutional network over a number's columns with a CTC output.

It reads a whole number at once (digitlab/serving/sequence_reading.py says what it is given and how its
answer becomes digits), so digits that touch or cross need no cut between them. It learns from numbers
the training writers of each source wrote (digitlab/datasets/number_lines.py: pendigits' training
writers, UNIPEN's training institutions), an equal share from each source, and is measured after every
epoch on numbers by the held-out writers and institutions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.datasets.number_lines import TIGHT_GAPS, WIDE_GAPS, NumberLines, joined, number_lines
from digitlab.datasets.pendigits import PenDigit
from digitlab.serving.sequence_reading import READER_HEIGHT, READER_WIDTH, decode_readings
from digitlab.store.atomic import save_model_atomic, write_json_atomic
from digitlab.store.number_readers import FIGURES_FILE, READER_FILE

CLASSES = 11  # the blank and ten digits
BATCH_SIZE = 64
LEARNING_RATE = 1e-3


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


def held_out_measures(held_out: dict[str, list[PenDigit]], measured: int, seed: int) -> dict[str, NumberLines]:
    """The numbers a reader is measured on: by each source's held-out writers, 4 digits written tight; for
    pendigits also 4 digits spaced like the number benchmark and 1 to 8 digits written tight. Seeds
    apart from the training numbers'."""
    measures = {}
    for offset, (source, digits) in enumerate(sorted(held_out.items())):
        base = seed + 7 + 10 * offset
        measures[f"{source}_four_digits_tight"] = number_lines(digits, measured, base, lengths=(4,), gap_range=TIGHT_GAPS)
        if source == "pen":
            measures["pen_four_digits_wide"] = number_lines(digits, measured, base + 1, lengths=(4,), gap_range=WIDE_GAPS)
            measures["pen_one_to_eight_digits_tight"] = number_lines(digits, measured, base + 2, gap_range=TIGHT_GAPS)
    return measures


def train_number_reader(out: Path, training: dict[str, list[PenDigit]], held_out: dict[str, list[PenDigit]],
                        numbers: int, epochs: int, measured: int = 500, seed: int = 0,
                        report: Callable[[str], None] = print, provenance: dict | None = None) -> dict:
    """Train on `numbers` numbers, an equal share by each source's training writers; after each epoch read
    `measured` numbers of each kind by the held-out writers. Writes out/number_reader.keras and
    out/figures.json, with provenance (the command and its data files' sha256, for the reader's card; the folder's
    format is digitlab/store/number_readers.py's);
    returns the figures."""
    out.mkdir(parents=True, exist_ok=False)  # before TensorFlow loads: a taken folder is refused at once
    import keras

    started = time.monotonic()
    counts = np.diff(np.linspace(0, numbers, len(training) + 1).round().astype(int))
    lines = joined([number_lines(digits, int(count), seed + offset)
                    for offset, ((_, digits), count) in enumerate(zip(sorted(training.items()), counts))])
    measures = held_out_measures(held_out, measured, seed)
    report(f"{numbers} training numbers and {len(measures) * measured} held-out ones drawn in {time.monotonic() - started:.0f} s")
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
    save_model_atomic(model, out / READER_FILE)
    figures = {"training_numbers": numbers,
               "training_writers": {source: len({d.writer for d in digits}) for source, digits in training.items()},
               "held_out_writers": {source: len({d.writer for d in digits}) for source, digits in held_out.items()},
               "measured_per_kind": measured,
               "epochs": history, "parameters": model.count_params(), "seed": seed,
               "seconds": round(time.monotonic() - started), **(provenance or {})}
    write_json_atomic(out / FIGURES_FILE, figures)
    return figures
