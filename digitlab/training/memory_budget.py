"""A run's peak memory, estimated before it starts from everything it loads, and the budget it must fit.

A Cloud container holds the app and its trainer in about 2.7 GB, so a run that would need more must be
refused before it starts, not killed by the kernel halfway. The estimate adds what the trainer holds at
its peak: TensorFlow itself, the network training on a batch, and each image it loads (MNIST, style
variants, pen digits, UNIPEN digits and letters, styled pen digits, non-digits, the drawing bank) plus
each time an epoch shows one (a bank drawing at weight 20 is kept once and shown 20 times:
digitlab/training/input_pipeline.py).

The constants were measured on Linux with TensorFlow 2.21 and Keras 3.15, one thread, from the kernel's
high-water mark of the trainer's resident memory (ru_maxrss): a tiny run of each architecture at batch
128 and at 2,048 (digitnet also at 32 and 512), full MNIST, and 50,000 bank drawings at weight 20. Each
constant is rounded up and the total given a margin, so the estimate stays above what a run uses; runs
measured afterwards came in 15-30% under their estimates (tests/unit/test_memory_budget.py holds a real
run to that: at or above what it used, and under twice). The Train page shows each finished run's peak
beside its estimate, so a deployment can check them on its own machine.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

from digitlab.config.settings import MNIST_TRAIN_IMAGES, TRAIN_MEMORY_MB_VAR
from digitlab.store.run_config import TrainConfig

MB = 1 << 20
TENSORFLOW_MB = 810  # a trainer with TensorFlow and Keras imported and the MNIST file loaded: 805 MB measured


@dataclass(frozen=True)
class ArchitectureMemory:
    """MB one architecture adds to TensorFlow's: the more of its end (testing, exporting) and its training."""

    end_mb: float  # precise batch norm, the test set at 256 images a step, the flatbuffer export
    training_mb: float  # weights, optimizer and traced graphs, whatever the batch
    per_batch_image_mb: float  # activations kept for the gradient, per image in a batch

    def peak_mb(self, batch_size: int) -> float:
        return max(self.end_mb, self.training_mb + self.per_batch_image_mb * batch_size)


# Measured above TensorFlow's 805 MB (tiny runs at batch 128 and 2,048; digitnet at 32 and 512 too), rounded up.
ARCHITECTURES = {"mlp": ArchitectureMemory(130, 20, 0.02),  # peaks 106 and 126 MB above TensorFlow
                 "cnn-small": ArchitectureMemory(160, 40, 0.29),  # 165 and 636
                 "cnn-deep": ArchitectureMemory(360, 110, 0.65),  # 350 and 1,443
                 "digitnet": ArchitectureMemory(320, 40, 1.16)}  # 306, 309, 656 and 2,106
DIGITNET_BASE_WIDTH = 32  # digitnet's width when run_config sets none: its activations grow with the width
DIGITNET_BASE_PARAMETERS = 140_000
BYTES_PER_PARAMETER = 16  # the weight, its gradient and Adam's two moments, float32
BYTES_PER_IMAGE = 2_400  # each distinct training image: its uint8 pixels in the trainer's arrays and TensorFlow's
BYTES_PER_SHOWN = 220  # each time an epoch shows an image: its index and its place in tf.data's shuffle buffer
STYLE_VARIANT_SHARE = 0.1  # augmentation adds flagged 1s and crossed 7s: about a tenth of the MNIST images
PEN_DIGITS_PER_COPY = 5_500  # the training writers' digits in pendigits-orig.tra, drawn pen_copies times
# From the run records of a UNIPEN run (its status.json's extra_training_data), rounded up:
UNIPEN_DIGITS_PER_COPY = 5_700  # the training institutions' digits in unipen-dev.tar.gz: 5,601
UNIPEN_LETTERS_PER_COPY = 7_100  # their letters no digit resembles: 7,044
STYLED_PER_COPY = 3_500  # slashed 0s, barred 7s, footed 1s from the pen and UNIPEN 0s, 7s and 1s: 3,488
EXTRA_MODEL_MB = 80  # a second network loaded and run on the test set: a teacher, a starting model, the one compared
MARGIN = 1.1  # what the allocator and TensorFlow's caches may add beyond what was measured


@dataclass(frozen=True)
class MemoryEstimate:
    """A run's estimated peak memory, in MB, by what needs it."""

    parts: dict[str, float]

    @property
    def total_mb(self) -> float:
        return sum(self.parts.values()) * MARGIN

    def describe(self) -> str:
        """Its parts in words: "TensorFlow 820 MB, digitnet at batch 128 680 MB, ..."."""
        return ", ".join(f"{name} {value:,.0f} MB" for name, value in self.parts.items() if round(value))

    def refusal(self, budget_mb: int) -> str | None:
        """Why a run this size may not start under budget_mb, with what to cut; None when it fits."""
        if self.total_mb <= budget_mb:
            return None
        return (f"This run would need about {self.total_mb:,.0f} MB of memory at its peak ({self.describe()}, plus "
                f"{MARGIN - 1:.0%} to spare); this deployment allows a run {budget_mb:,} MB ({TRAIN_MEMORY_MB_VAR}). "
                "Use a smaller batch size, a lower bank weight, fewer images or a smaller architecture.")


def estimate_run_memory(config: TrainConfig, bank_drawings: int = 0) -> MemoryEstimate:
    """The peak memory a trainer needs for config, training on bank_drawings drawings of the bank (if bank_weight)."""
    network = ARCHITECTURES.get(config.arch, ARCHITECTURES["cnn-deep"])
    width = getattr(config, "width", None)  # digitnet's width, where this version of TrainConfig has one
    parameters_mb = 0.0
    if config.arch == "digitnet" and width and width != DIGITNET_BASE_WIDTH:
        ratio = width / DIGITNET_BASE_WIDTH  # not measured: activations scale with the width, weights with its square
        network = ArchitectureMemory(network.end_mb * max(1.0, ratio), network.training_mb,
                                     network.per_batch_image_mb * ratio)
        parameters_mb = max(0.0, ratio**2 - 1) * DIGITNET_BASE_PARAMETERS * BYTES_PER_PARAMETER / MB
    mnist = min(config.limit or MNIST_TRAIN_IMAGES, MNIST_TRAIN_IMAGES) * (1 - config.validation_fraction)
    style = mnist * STYLE_VARIANT_SHARE if config.augment else 0
    pen = PEN_DIGITS_PER_COPY * config.pen_copies if config.pen_digits else 0
    unipen_digits = UNIPEN_DIGITS_PER_COPY * config.unipen_copies if config.unipen else 0
    letters = UNIPEN_LETTERS_PER_COPY * config.letter_copies if config.unipen else 0
    styled = STYLED_PER_COPY * config.style_copies if config.pen_digits or config.unipen else 0
    bank = bank_drawings if config.bank_weight else 0
    images = {"MNIST": (mnist + style, mnist + style), "pen digits": (pen, pen),
              "UNIPEN digits": (unipen_digits, unipen_digits), "UNIPEN letters": (letters, letters),
              "styled 0s, 7s and 1s": (styled, styled),
              "non-digits": (config.non_digits, config.non_digits),
              f"drawing bank ×{config.bank_weight}": (bank, bank * config.bank_weight)}
    models = sum(1 for extra in (config.teacher, config.init_from or config.bank_weight) if extra)
    parts = {"TensorFlow": float(TENSORFLOW_MB),
             f"{config.arch} at batch {config.batch_size}": network.peak_mb(config.batch_size) + parameters_mb}
    if models:
        parts["other models"] = float(EXTRA_MODEL_MB * models)
    for name, (kept, shown) in images.items():
        parts[name] = (kept * BYTES_PER_IMAGE + shown * BYTES_PER_SHOWN) / MB
    return MemoryEstimate(parts)


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB: the kernel's high-water mark, missed by no sampling.

    On Linux it is VmHWM, the high-water mark of this program's own memory. getrusage's ru_maxrss would
    also count the process that launched it: at exec the kernel folds the launcher's high-water mark
    into the new program's (with vfork, as subprocess uses, that is the whole launcher), so a trainer
    started by a 1 GB server reported at least 1 GB whatever it used.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass  # not Linux: the rusage figure is the best there is
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KB on Linux
