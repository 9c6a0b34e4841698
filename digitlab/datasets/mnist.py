"""MNIST in Keras's layout, from a local file, Keras's cache or a download, verified before use."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MNIST_ENV_VAR = "DIGITLAB_MNIST"
KERAS_CACHE_PATH = Path.home() / ".keras" / "datasets" / "mnist.npz"

# sha256 of each array's bytes: facts about MNIST, so any copy can be checked, whatever its container.
EXPECTED_ARRAYS = {
    "x_train": ((60000, 28, 28), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ((10000, 28, 28), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}

HOW_TO_PROVIDE = (
    "Download MNIST's mnist.npz (the file Keras's mnist.load_data() fetches) and either set "
    f"{MNIST_ENV_VAR}=/path/to/mnist.npz or copy it to {KERAS_CACHE_PATH}."
)


class MnistUnavailableError(RuntimeError):
    """MNIST could not be found, read or verified; the message says how to provide it."""


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays: uint8 images with bright ink on black, uint8 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where the arrays came from, for messages and model cards


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def verify_arrays(arrays: dict[str, np.ndarray], source: str, check_hashes: bool = True) -> None:
    """Raise MnistUnavailableError unless the arrays are exactly MNIST's."""
    for name, (shape, digest) in EXPECTED_ARRAYS.items():
        if name not in arrays:
            raise MnistUnavailableError(f"{source} has no array '{name}'; it is not Keras's mnist.npz. {HOW_TO_PROVIDE}")
        array = arrays[name]
        if array.shape != shape or array.dtype != np.uint8:
            raise MnistUnavailableError(
                f"{source}: '{name}' is {array.dtype}{list(array.shape)}, expected uint8{list(shape)}. {HOW_TO_PROVIDE}"
            )
        if check_hashes and array_sha256(array) != digest:
            raise MnistUnavailableError(
                f"{source}: '{name}' does not match MNIST's checksum (corrupted or altered copy). {HOW_TO_PROVIDE}"
            )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four arrays of an mnist.npz, never unpickling objects."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files if name in EXPECTED_ARRAYS}
    except (OSError, ValueError, EOFError) as error:
        raise MnistUnavailableError(f"Cannot read {path} as an npz file ({error}). {HOW_TO_PROVIDE}") from error


def candidate_paths() -> list[tuple[str, Path]]:
    """The local places MNIST is looked for, in order."""
    candidates = []
    env_path = os.environ.get(MNIST_ENV_VAR)
    if env_path:
        candidates.append((f"${MNIST_ENV_VAR}", Path(env_path).expanduser()))
    candidates.append(("Keras cache", KERAS_CACHE_PATH))
    return candidates


_cache: dict[str, Mnist] = {}


def load_mnist(allow_download: bool = True) -> Mnist:
    """Return verified MNIST: $DIGITLAB_MNIST, then Keras's cache, then Keras's download.

    A path named by the environment variable that is missing or wrong is an error, not a reason to fall
    back silently: the user asked for that file.
    """
    for label, path in candidate_paths():
        key = str(path.resolve()) if path.exists() else None
        if key and key in _cache:
            return _cache[key]
        if not path.exists():
            if label.startswith("$"):
                raise MnistUnavailableError(f"{MNIST_ENV_VAR} points at {path}, which does not exist. {HOW_TO_PROVIDE}")
            continue
        arrays = read_npz(path)
        verify_arrays(arrays, str(path))
        mnist = Mnist(**arrays, source=str(path))
        _cache[key] = mnist
        return mnist
    if not allow_download:
        raise MnistUnavailableError(f"MNIST not found. {HOW_TO_PROVIDE}")
    return _download_with_keras()


def _download_with_keras() -> Mnist:
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # any network or file failure means the same thing to the user
        raise MnistUnavailableError(f"MNIST not found locally and the download failed ({error}). {HOW_TO_PROVIDE}") from error
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    verify_arrays(arrays, "Keras download")
    mnist = Mnist(**arrays, source=str(KERAS_CACHE_PATH))
    _cache[str(KERAS_CACHE_PATH.resolve())] = mnist
    return mnist
