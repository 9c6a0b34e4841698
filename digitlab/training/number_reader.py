"""The learned number reader: a convolutional network over a number's columns with a CTC output.

It reads a whole number at once (digitlab/serving/sequence_reading.py says what it is given and how its
answer becomes digits), so digits that touch or cross need no cut between them. It learns from numbers
the training writers of each source wrote (digitlab/datasets/number_lines.py: pendigits' training
writers, UNIPEN's training institutions), an equal share from each source, and numbers of MNIST's
training digits where asked; it is measured after every epoch on numbers by the held-out writers and
institutions and of MNIST's test digits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.datasets.number_lines import (TIGHT_GAPS, WIDE_GAPS, NumberLines, joined, mnist_number_lines,
                                           not_number_lines, number_lines)
from digitlab.datasets.pendigits import PenDigit
from digitlab.datasets.unipen import UnipenCharacter
from digitlab.serving.sequence_reading import READER_HEIGHT, READER_WIDTH, decode_readings
from digitlab.store.atomic import save_model_atomic, write_json_atomic
from digitlab.store.number_readers import FIGURES_FILE, READER_FILE

CLASSES = 11  # the blank and ten digits
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
FURTHER_LEARNING_RATE = 3e-4  # training a reader trained before further: small steps keep what it knows
NOT_A_NUMBER = "not_a_number"  # the name of the reader's second output
REFUSED_NUMBERS = 0.005  # the refusal level refuses at most this share of the training side's check numbers
NOT_NUMBER_SEED_OFFSET = 41  # the lines that are no number come from seeds apart from the numbers'
CHECK_SEED_OFFSET = 53  # and the training side's check lines from seeds apart from both
MNIST_SEED_OFFSET = 67  # MNIST numbers too


def number_reader_network():
    """Four convolution blocks bring the 32-pixel-high strip down to one row of 64 columns; two wide
    convolutions along the row let each column see its neighbours' digits; each column scores 11 classes.
    With the refusal head (with_refusal_head)."""
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
    return with_refusal_head(keras.Model(strip, layers.Dense(CLASSES)(x), name="number_reader"))


def with_refusal_head(reader):
    """The reader with a second output, the logit of "not a number": the columns' last features (before
    dropout), their most and their mean over the strip, through a small dense layer. A reader that has one
    already is returned as it is."""
    import keras
    from keras import layers

    if len(reader.outputs) == 2:
        return reader
    columns = reader.layers[-2].input  # the dropout layer's input: each column's features
    # Named: a loaded reader's own layers already hold Keras's default names.
    pooled = layers.Concatenate(name="refusal_pooled")([layers.GlobalMaxPooling1D(name="refusal_most")(columns),
                                                        layers.GlobalAveragePooling1D(name="refusal_mean")(columns)])
    hidden = layers.Dense(64, activation="relu", name="refusal_hidden")(pooled)
    refusal = layers.Dense(1, name=NOT_A_NUMBER)(hidden)
    return keras.Model(reader.input, [reader.outputs[0], refusal], name="number_reader")


def read_lines(model, lines: NumberLines) -> tuple[np.ndarray, np.ndarray]:
    """(each line's column scores, each line's odds of being no number, 0..1)."""
    scores, refusal = model.predict(lines.strips[..., None], batch_size=256, verbose=0)
    return scores, 1.0 / (1.0 + np.exp(-refusal[:, 0]))


def exact_share(scores: np.ndarray, lines: NumberLines) -> float:
    """The share of lines whose every digit the scores read, and no more."""
    readings = decode_readings(scores)
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


def each_source(digits_by_source: dict[str, list[PenDigit]], count: int, seed: int,
                gap_range: tuple[float, float] | None = None) -> NumberLines:
    """count numbers (number_lines), an equal share by each source's writers, each source from a seed of
    its own (seed, seed + 1, ... in the sources' order by name)."""
    counts = np.diff(np.linspace(0, count, len(digits_by_source) + 1).round().astype(int))
    return joined([number_lines(digits, int(share), seed + offset, gap_range=gap_range)
                   for offset, ((_, digits), share) in enumerate(zip(sorted(digits_by_source.items()), counts))])


def refusal_level(refusal: np.ndarray) -> float:
    """The lowest odds that refuse at most REFUSED_NUMBERS of these numbers."""
    return round(float(np.quantile(refusal, 1.0 - REFUSED_NUMBERS)), 4)


def train_number_reader(out: Path, training: dict[str, list[PenDigit]], held_out: dict[str, list[PenDigit]],
                        numbers: int, epochs: int, measured: int = 500, seed: int = 0,
                        report: Callable[[str], None] = print, provenance: dict | None = None,
                        letters: tuple[list[UnipenCharacter], list[UnipenCharacter]] = ((), ()),
                        not_numbers: int = 0, start_from: Path | None = None, mnist=None, mnist_numbers: int = 0) -> dict:
    """Train on `numbers` numbers, an equal share by each source's training writers, and `not_numbers`
    lines that are no number (words by the writers of letters[0], rows of doodles); after each epoch read
    `measured` numbers of each kind by the held-out writers, and as many lines that are no number (by the
    writers of letters[1], held-out doodles). mnist (digitlab.datasets.mnist.Mnist): `mnist_numbers` numbers
    of its training digits learnt from too, 4-digit numbers of its test digits measured. start_from: a
    reader trained before (a .keras file), trained further with its refusal head added where it has none. Writes out/number_reader.keras and
    out/figures.json, with provenance (the command and its data files' sha256, for the reader's card; the
    folder's format is digitlab/store/number_readers.py's); returns the figures."""
    out.mkdir(parents=True, exist_ok=False)  # before TensorFlow loads: a taken folder is refused at once
    import keras

    started = time.monotonic()
    parts = [each_source(training, numbers, seed)]
    if not_numbers:
        parts.append(not_number_lines(list(letters[0]), not_numbers, seed + NOT_NUMBER_SEED_OFFSET, held_out=False))
    measures = held_out_measures(held_out, measured, seed)
    if mnist is not None and mnist_numbers:
        parts.append(mnist_number_lines(mnist.x_train, mnist.y_train, mnist_numbers, seed + MNIST_SEED_OFFSET))
        measures["mnist_four_digits_tight"] = mnist_number_lines(mnist.x_test, mnist.y_test, measured,
                                                                 seed + MNIST_SEED_OFFSET + 1, lengths=(4,),
                                                                 gap_range=TIGHT_GAPS)
    lines = joined(parts)
    held_out_not_numbers = not_number_lines(list(letters[1]), measured, seed + NOT_NUMBER_SEED_OFFSET, held_out=True)
    report(f"{len(lines.texts)} training lines and {(len(measures) + 1) * measured} held-out ones drawn in "
           f"{time.monotonic() - started:.0f} s")
    keras.utils.set_random_seed(seed)
    model = number_reader_network() if start_from is None else \
        with_refusal_head(keras.models.load_model(start_from, compile=False))
    steps = epochs * max(1, len(lines.texts) // BATCH_SIZE)
    rate = LEARNING_RATE if start_from is None else FURTHER_LEARNING_RATE
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(rate, steps)),
                  loss=[keras.losses.CTC(), keras.losses.BinaryCrossentropy(from_logits=True)])
    is_number = lines.is_number
    # A line that is no number teaches only the refusal: its digit output is left alone (weight 0), under a
    # stand-in label that keeps the CTC loss finite.
    digit_labels = np.where(is_number[:, None], lines.labels, np.eye(1, lines.labels.shape[1], dtype=np.int32))
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.monotonic()
        model.fit(lines.strips[..., None], [digit_labels, (~is_number).astype(np.float32)[:, None]],
                  sample_weight=[is_number.astype(np.float32), np.ones(len(is_number), np.float32)],
                  batch_size=BATCH_SIZE, epochs=1, verbose=0, shuffle=True)
        shares = {name: exact_share(read_lines(model, measure)[0], measure) for name, measure in measures.items()}
        history.append({"epoch": epoch, "seconds": round(time.monotonic() - epoch_started), **shares})
        report(f"epoch {epoch}: " + ", ".join(f"{name} {share:.1%}" for name, share in shares.items()))
    # Saved uncompiled: the optimizer's state would double the file, and training further starts afresh.
    save_model_atomic(keras.Model(model.inputs, model.outputs, name=model.name), out / READER_FILE)
    figures = {"training_numbers": numbers, "training_not_numbers": not_numbers,
               "training_mnist_numbers": mnist_numbers if mnist is not None else 0,
               "training_writers": {source: len({d.writer for d in digits}) for source, digits in training.items()},
               "held_out_writers": {source: len({d.writer for d in digits}) for source, digits in held_out.items()},
               "measured_per_kind": measured, "epochs": history,
               "not_a_number": refusal_figures(model, training, measures, held_out_not_numbers, measured, seed),
               "parameters": model.count_params(), "seed": seed,
               "seconds": round(time.monotonic() - started), **(provenance or {})}
    write_json_atomic(out / FIGURES_FILE, figures)
    return figures


def refusal_figures(model, training: dict[str, list[PenDigit]], measures: dict[str, NumberLines],
                    held_out_not_numbers: NumberLines, measured: int, seed: int) -> dict:
    """The refusal level, chosen on numbers the training writers wrote afresh (1 to 8 digits, each
    source's share), and what it refuses of the held-out lines."""
    check = each_source(training, measured, seed + CHECK_SEED_OFFSET, gap_range=TIGHT_GAPS)
    level = refusal_level(read_lines(model, check)[1])
    refused = {f"{name}_refused": round(float(np.mean(read_lines(model, lines)[1] >= level)), 4)
               for name, lines in {**measures, "not_numbers": held_out_not_numbers}.items()}
    return {"level": level, "chosen_on": f"{len(check.texts)} numbers by the training writers", "held_out": refused}
