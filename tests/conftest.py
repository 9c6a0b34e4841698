"""Shared fixtures: real MNIST, and a small real model trained once per test session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
SHARED_PENDIGITS = REPO_ROOT.parent / "shared" / "data" / "pendigits-orig.tra"

if "DIGITLAB_MNIST" not in os.environ and SHARED_MNIST.exists():
    os.environ["DIGITLAB_MNIST"] = str(SHARED_MNIST)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Evaluations are cached on disk per model; tests must not fill the user's cache.
os.environ.setdefault("DIGITLAB_CACHE", tempfile.mkdtemp(prefix="digitlab-test-cache-"))


def _isolate_from_the_users_work() -> None:
    """Point runs, models and the drawing bank at a throwaway folder for the whole session.

    Using the app makes runs in runs/, may promote models into models/ and saves drawings to
    drawings.sqlite: a test that read those would pass or fail by what the user did. The session's
    models/ holds only the shipped default model and number reader, as a fresh clone has them.
    """
    sandbox = Path(tempfile.mkdtemp(prefix="digitlab-test-home-"))
    models = sandbox / "models"
    models.mkdir()
    for shipped in (REPO_ROOT / "models").glob("default.*"):
        shutil.copy2(shipped, models / shipped.name)
    from digitlab.store.number_readers import READERS_FOLDER

    if (REPO_ROOT / "models" / READERS_FOLDER).is_dir():
        shutil.copytree(REPO_ROOT / "models" / READERS_FOLDER, models / READERS_FOLDER)
    os.environ["DIGITLAB_MODELS"] = str(models)
    os.environ["DIGITLAB_RUNS"] = str(sandbox / "runs")
    os.environ["DIGITLAB_DATABASE_URL"] = f"sqlite:///{sandbox / 'drawings.sqlite'}"


_isolate_from_the_users_work()


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST; the tests that need it skip, saying how to provide it, where there is none."""
    from digitlab.datasets.mnist import MnistUnavailableError, load_mnist

    try:
        return load_mnist(allow_download=False)
    except MnistUnavailableError as error:
        pytest.skip(f"needs MNIST: {error}")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, mnist) -> Path:
    """A finished training run of cnn-small on 8,000 MNIST images (about 93% accurate)."""
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.trainer import run_training

    run_dir = tmp_path_factory.mktemp("runs") / "small-run"
    status = run_training(TrainConfig(arch="cnn-small", epochs=2, limit=8000, augment=False, seed=1), run_dir)
    assert status.state == "done", status
    return run_dir


@pytest.fixture(scope="session")
def small_models_dir(tmp_path_factory, small_run) -> Path:
    """A models/ folder holding the small run's model registered as 'default'."""
    from digitlab.store.registry import promote_run

    directory = tmp_path_factory.mktemp("models")
    promote_run(small_run, "default", directory)
    return directory


@pytest.fixture
def models_dir(tmp_path, small_models_dir, monkeypatch) -> Path:
    """A private copy of small_models_dir, set as DIGITLAB_MODELS for this test."""
    directory = tmp_path / "models"
    shutil.copytree(small_models_dir, directory)
    monkeypatch.setenv("DIGITLAB_MODELS", str(directory))
    return directory


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "runs"
    directory.mkdir()
    monkeypatch.setenv("DIGITLAB_RUNS", str(directory))
    return directory


def encode(image, fmt: str, **options) -> bytes:
    """A PIL image saved in memory as a file of the given format, as an upload would arrive."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
