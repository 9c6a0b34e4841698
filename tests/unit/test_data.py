"""MNIST loading: the right file is found, verified, and failures say how to fix them."""

from pathlib import Path

import numpy as np
import pytest

from digitlab.datasets import mnist as data
from digitlab.datasets.mnist import MnistUnavailableError, load_mnist


@pytest.fixture
def no_mnist_cache(monkeypatch, tmp_path):
    """Forget loaded copies and point Keras's cache at an empty folder."""
    monkeypatch.setattr(data, "_cache", {})
    monkeypatch.setattr(data, "KERAS_CACHE_PATH", tmp_path / "keras" / "mnist.npz")


def test_loads_verified_mnist_in_keras_layout(mnist):
    """Test that MNIST loads as Keras's four uint8 arrays with the official shapes."""
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.y_test.shape == (10000,) and set(np.unique(mnist.y_test)) == set(range(10))
    assert mnist.x_train.max() == 255  # bright ink on black, not rescaled


def test_missing_env_file_says_how_to_provide_it(monkeypatch, tmp_path, no_mnist_cache):
    """Test that a DIGITLAB_MNIST path that does not exist is reported with instructions."""
    monkeypatch.setenv("DIGITLAB_MNIST", str(tmp_path / "nowhere.npz"))
    with pytest.raises(MnistUnavailableError, match="does not exist.*DIGITLAB_MNIST=/path/to/mnist.npz"):
        load_mnist(allow_download=False)


def test_nothing_reachable_without_download_says_how_to_provide_it(monkeypatch, no_mnist_cache):
    """Test that with no env var, no cache and no download the message explains both options."""
    monkeypatch.delenv("DIGITLAB_MNIST", raising=False)
    with pytest.raises(MnistUnavailableError, match="DIGITLAB_MNIST.*\\.keras"):
        load_mnist(allow_download=False)


def test_failed_download_is_reported_with_instructions(monkeypatch, no_mnist_cache):
    """Test that an offline machine gets a clear message rather than a network traceback."""
    import keras

    def offline():
        raise OSError("Network is unreachable")

    monkeypatch.delenv("DIGITLAB_MNIST", raising=False)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(MnistUnavailableError, match="download failed.*Network is unreachable"):
        load_mnist()


def test_keras_cache_is_used_when_no_env_var(monkeypatch, tmp_path, no_mnist_cache):
    """Test that Keras's cached mnist.npz is found when DIGITLAB_MNIST is unset."""
    source = Path(__import__("os").environ.get("DIGITLAB_MNIST", ""))
    if not source.is_file():
        pytest.skip("needs a local mnist.npz to copy")
    data.KERAS_CACHE_PATH.parent.mkdir(parents=True)
    data.KERAS_CACHE_PATH.write_bytes(source.read_bytes())
    monkeypatch.delenv("DIGITLAB_MNIST", raising=False)
    assert load_mnist(allow_download=False).source == str(data.KERAS_CACHE_PATH)


def write_npz(path, mnist, **changes):
    arrays = {"x_train": mnist.x_train, "y_train": mnist.y_train, "x_test": mnist.x_test, "y_test": mnist.y_test}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


def test_wrong_shapes_are_rejected(monkeypatch, tmp_path, mnist, no_mnist_cache):
    """Test that a file with MNIST's names but wrong shapes is refused, naming the array."""
    path = write_npz(tmp_path / "small.npz", mnist, x_test=mnist.x_test[:100])
    monkeypatch.setenv("DIGITLAB_MNIST", str(path))
    with pytest.raises(MnistUnavailableError, match=r"'x_test' is uint8\[100, 28, 28\], expected uint8\[10000, 28, 28\]"):
        load_mnist(allow_download=False)


def test_checksum_mismatch_is_rejected(monkeypatch, tmp_path, mnist, no_mnist_cache):
    """Test that a single altered label makes the copy fail verification."""
    labels = mnist.y_test.copy()
    labels[0] = (labels[0] + 1) % 10
    path = write_npz(tmp_path / "altered.npz", mnist, y_test=labels)
    monkeypatch.setenv("DIGITLAB_MNIST", str(path))
    with pytest.raises(MnistUnavailableError, match="'y_test' does not match MNIST's checksum"):
        load_mnist(allow_download=False)


def test_not_an_npz_is_rejected(monkeypatch, tmp_path, no_mnist_cache):
    """Test that a file that is not an npz gives a readable error."""
    path = tmp_path / "mnist.npz"
    path.write_text("not a zip")
    monkeypatch.setenv("DIGITLAB_MNIST", str(path))
    with pytest.raises(MnistUnavailableError, match="Cannot read"):
        load_mnist(allow_download=False)
