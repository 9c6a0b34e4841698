"""The LiteRT (TensorFlow Lite) runtime: a model's flatbuffer run by XNNPACK's CPU kernels, from a pool of interpreters.

TensorFlow spends most of a one-drawing prediction on per-operation overhead: about 1 ms for the
default model on 2 cores, where LiteRT runs the converted graph in about 0.3 ms, and evaluates
the 10,000 MNIST test images faster too. The flatbuffer's weights are 8-bit integers, which XNNPACK's
integer kernels run about four times faster again; the digits read stay the same to within an image
or two in 10,000 (measured on the default model, see BENCHMARKS.md). The flatbuffer is made and
checked by the store (digitlab/store/flatbuffers.py); this module only runs it, and never imports
TensorFlow. An interpreter must not be used by two threads at once, and every visitor's script runs
in its own thread, so each call borrows one from a small pool.
"""

from __future__ import annotations

import os
import threading

import numpy as np

MAX_INTERPRETERS = 8  # calls beyond this many at once wait: a few CPU cores gain nothing from more
MAX_THREADS = 4  # XNNPACK threads per call on a large batch (an MNIST evaluation)
# A drawing (or a number's few digits) runs on the calling thread alone: waking XNNPACK's worker
# costs more than it saves on so little work (0.35 vs 0.42 ms per canvas with preprocessing on the
# 2-core machine), and under load each visitor's call keeps to one core instead of fighting over two.
SMALL_BATCH = 8


class LiteRuntimeUnavailable(RuntimeError):
    """LiteRT is not installed here, or cannot run this model; predict with TensorFlow instead."""


class LiteModel:
    """Call with a float32 batch (n, 28, 28, 1); returns the model's (first) output as a numpy array
    (outputs(): all of them). Thread-safe."""

    def __init__(self, flatbuffer: bytes, threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise LiteRuntimeUnavailable("the ai-edge-litert package is not installed") from error
        self._interpreter_class = Interpreter
        self._flatbuffer = flatbuffer
        self._threads = threads or max(1, min(MAX_THREADS, os.cpu_count() or 1))
        # Idle interpreters by thread count: one thread for small batches, self._threads for large ones.
        self._idle: dict[int, list[_Interpreter]] = {1: [], self._threads: []}
        self._idle_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_INTERPRETERS)
        try:  # fail here, where the caller can fall back to TensorFlow, not on a user's first stroke
            first = self._new_interpreter(1)
            first.run(np.zeros((1, *first.input_shape[1:]), np.float32))
        except Exception as error:  # LiteRT raises ValueError or RuntimeError for graphs it cannot run
            raise LiteRuntimeUnavailable(f"the converted model does not run ({type(error).__name__})") from error
        self._idle[1].append(first)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.outputs(batch)[0]

    def outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output of the model, in the flatbuffer's order (a model with one output: [it])."""
        threads = 1 if len(batch) <= SMALL_BATCH else self._threads
        with self._slots:
            with self._idle_lock:
                idle = self._idle[threads]
                interpreter = idle.pop() if idle else None
            interpreter = interpreter or self._new_interpreter(threads)
            try:
                return interpreter.run(batch)
            finally:
                with self._idle_lock:
                    self._idle[threads].append(interpreter)

    def _new_interpreter(self, threads: int) -> "_Interpreter":
        return _Interpreter(self._interpreter_class(model_content=self._flatbuffer, num_threads=threads))


class _Interpreter:
    """One interpreter with its input sized for the last batch it ran (resizing costs an allocation)."""

    def __init__(self, interpreter):
        self.interpreter = interpreter
        input_details = interpreter.get_input_details()[0]
        self.input_index = input_details["index"]
        self.input_shape = tuple(input_details["shape"])
        self.output_indices = [details["index"] for details in interpreter.get_output_details()]
        self.batch_size = None

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape[0] != self.batch_size:
            self.interpreter.resize_tensor_input(self.input_index, list(batch.shape))
            self.interpreter.allocate_tensors()
            self.batch_size = batch.shape[0]
        self.interpreter.set_tensor(self.input_index, batch)
        self.interpreter.invoke()
        # Copies: the interpreter reuses its buffers.
        return [self.interpreter.get_tensor(index) for index in self.output_indices]
