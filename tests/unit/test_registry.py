"""The model store: promotion that never overwrites, names on every command, and broken, foreign and hostile
model files that are reported and never loaded; an interrupted save harms nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from digitlab.store.atomic import file_sha256
from digitlab.store.registry import (ModelLoadError, list_run_models, list_store_models, load_entry, register_model,
                                     resolve_model)
from tests.conftest import REPO_ROOT
from tests.helpers.canvases import canvas_from_digit

MARKER_ENV_VAR = "DIGITLAB_TEST_PAYLOAD_MARKER"


def write_card(directory: Path, name: str, model_file: Path) -> None:
    """Register a file by hand, as an attacker with write access (or a careless copy) could."""
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "sha256": file_sha256(model_file)}))


def store_entry(name: str):
    return next(entry for entry in list_store_models() if entry.name == name)


@pytest.fixture
def keras_load_spy(monkeypatch) -> list:
    """Record every path Keras is asked to load, to prove a refused file is never opened by Keras."""
    import keras

    calls = []
    real_load = keras.models.load_model

    def recording_load(path, *args, **kwargs):
        calls.append(Path(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", recording_load)
    return calls


def reads_digits(model, mnist) -> bool:
    """Whether a loaded model reads real MNIST test digits drawn on a canvas (the user's view of 'works')."""
    from digitlab.serving.predictor import Predictor

    predictor = Predictor(model)
    read = [predictor.predict_image(canvas_from_digit(image)).digit for image in mnist.x_test[:10]]
    return np.mean(np.array(read) == mnist.y_test[:10]) >= 0.8


def default_is_intact(models_dir: Path, original_sha: str, mnist) -> bool:
    entries = list_store_models()
    default = store_entry("default")
    return (file_sha256(models_dir / "default.keras") == original_sha and default.usable
            and all(not entry.name.startswith(".") for entry in entries) and reads_digits(load_entry(default), mnist))


def test_truncated_model_is_refused_before_keras_opens_it(models_dir, keras_load_spy):
    """Test that a model file cut short after registration is refused by its hash, unopened."""
    path = models_dir / "default.keras"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        load_entry(store_entry("default"))
    assert keras_load_spy == []


def test_corrupted_model_is_refused_before_keras_opens_it(models_dir, keras_load_spy):
    """Test that a model file with flipped bytes is refused by its hash, unopened."""
    path = models_dir / "default.keras"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="altered or is incomplete"):
        load_entry(store_entry("default"))
    assert keras_load_spy == []


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "empty"])
def test_damaged_model_with_a_matching_card_fails_with_model_load_error(models_dir, damage):
    """Test that a damaged file whose card was made to match it still gives ModelLoadError, not a Keras crash."""
    path = models_dir / "broken.keras"
    original = (models_dir / "default.keras").read_bytes()
    path.write_bytes({"truncated": original[: len(original) // 2], "empty": b"",
                      "random bytes": np.random.default_rng(0).bytes(len(original))}[damage])
    write_card(models_dir, "broken", path)
    with pytest.raises(ModelLoadError, match="could not be loaded safely"):
        load_entry(store_entry("broken"))


def test_foreign_model_without_card_is_listed_with_a_problem_and_never_loaded(models_dir, small_run, keras_load_spy):
    """Test that a valid .keras dropped into models/ without a card is shown as unregistered and not loaded."""
    foreign = models_dir / "downloaded.keras"
    foreign.write_bytes((small_run / "model.keras").read_bytes())
    entry = store_entry("downloaded")
    assert not entry.usable and "not registered" in entry.problem
    with pytest.raises(ModelLoadError, match="not registered"):
        load_entry(entry)
    with pytest.raises(ModelLoadError, match="not registered"):
        load_entry(resolve_model(foreign))  # the CLI's --model path goes through the same check
    assert keras_load_spy == []
    assert store_entry("default").usable  # the registered model is unaffected


def test_model_carrying_code_is_refused_even_with_a_matching_card(models_dir, tmp_path, monkeypatch):
    """Test that a Lambda layer's code never runs on load, though its card's sha256 matches (safe_mode)."""
    import keras

    marker = tmp_path / "payload-ran"
    monkeypatch.setenv(MARKER_ENV_VAR, str(marker))
    # Self-contained (no names from this module): a saved lambda is rebuilt without this module's globals.
    payload = lambda x: (__import__("pathlib").Path(__import__("os").environ["DIGITLAB_TEST_PAYLOAD_MARKER"]).write_text("ran"), x)[1]  # noqa: E731
    hostile = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(payload), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax")])
    path = models_dir / "hostile.keras"
    hostile.save(path)
    write_card(models_dir, "hostile", path)
    marker.unlink(missing_ok=True)  # building the model may have run the payload once

    entry = store_entry("hostile")
    with pytest.raises(ModelLoadError, match="Lambda"):
        load_entry(entry)
    assert not marker.exists()

    # Control: the payload is live, so the refusal above is what kept it from running.
    keras.models.load_model(path, safe_mode=False, compile=False)
    assert marker.exists()


@pytest.mark.parametrize("breakage, words", [
    ("model file deleted", "default.keras is missing"),
    ("card deleted", "not registered"),
    ("card not JSON", "not registered"),
    ("card without sha256", "records no sha256"),
])
def test_broken_default_gives_a_clear_model_load_error(models_dir, breakage, words):
    """Test that a missing or broken default model gives ModelLoadError naming the model and the problem."""
    if breakage == "model file deleted":
        (models_dir / "default.keras").unlink()
    elif breakage == "card deleted":
        (models_dir / "default.json").unlink()
    elif breakage == "card not JSON":
        (models_dir / "default.json").write_text("{ this is not json")
    else:
        (models_dir / "default.json").write_text(json.dumps({"name": "default"}))
    entry = resolve_model(None)
    assert entry.name == "default" and not entry.usable and words in entry.problem
    with pytest.raises(ModelLoadError, match=f"'default' cannot be used: .*{words}"):
        load_entry(entry)


@pytest.mark.parametrize("active", ['["default"]', "not json", '{"name": "no-such-model"}', '{"name": null}'])
def test_garbled_active_choice_falls_back_to_the_default(models_dir, active):
    """Test that an unreadable or dangling active.json falls back to the shipped default model."""
    (models_dir / "active.json").write_text(active)
    entry = resolve_model(None)
    assert entry.name == "default" and entry.usable


def test_damaged_run_model_is_refused(runs_dir, small_run):
    """Test that a finished run whose model.keras was damaged afterwards is offered with no way to load it."""
    import shutil

    run = runs_dir / "damaged-run"
    shutil.copytree(small_run, run)
    (run / "model.keras").write_bytes((run / "model.keras").read_bytes()[:1000])
    entry = next(entry for entry in list_run_models(runs_dir) if entry.name == "run:damaged-run")
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        load_entry(entry)


def new_model_file(tmp_path: Path) -> Path:
    """A valid, different model to register over the default."""
    from digitlab.training.architectures import build_model

    path = tmp_path / "new.keras"
    build_model("mlp").save(path)
    return path


KILLED_MID_COPY = """
import sys, time
from pathlib import Path
import digitlab.store.registry as registry

source, directory, ready = map(Path, sys.argv[1:4])

def copy_half_then_hang(src, dst):
    data = Path(src).read_bytes()
    with open(dst, "wb") as file:
        file.write(data[: len(data) // 2])
        file.flush()
    ready.touch()
    time.sleep(120)

registry.shutil.copyfile = copy_half_then_hang
registry.register_model(source, "default", {"note": "replacement"}, directory, replace=True)
"""


def test_registration_killed_mid_copy_leaves_the_previous_model_loadable(models_dir, tmp_path, mnist):
    """Test that a process killed (SIGKILL) while copying a model into models/ leaves the old one intact."""
    original_sha = file_sha256(models_dir / "default.keras")
    ready = tmp_path / "half-written"
    process = subprocess.Popen([sys.executable, "-c", KILLED_MID_COPY, str(new_model_file(tmp_path)), str(models_dir), str(ready)],
                               cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the copy never started"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=30)
    leftovers = [path.name for path in models_dir.iterdir() if path.name.startswith(".default.")]
    assert leftovers, "the kill should have left a half-written temp file"
    assert default_is_intact(models_dir, original_sha, mnist)


def test_registration_that_fails_mid_copy_leaves_nothing_behind(models_dir, tmp_path, monkeypatch, mnist):
    """Test that a copy that raises midway (disk full) leaves the old model and no temp file."""
    import digitlab.store.registry as registry

    original_sha = file_sha256(models_dir / "default.keras")
    files_before = sorted(path.name for path in models_dir.iterdir())
    source = new_model_file(tmp_path)

    def copy_half_then_fail(src, dst):
        Path(dst).write_bytes(Path(src).read_bytes()[:1000])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry.shutil, "copyfile", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        register_model(source, "default", {}, models_dir, replace=True)
    assert sorted(path.name for path in models_dir.iterdir()) == files_before  # no temp file left
    assert default_is_intact(models_dir, original_sha, mnist)


def test_death_between_new_version_and_card_leaves_the_old_version_in_use(models_dir, tmp_path, monkeypatch, mnist):
    """Test that a death between writing a new version's file and switching the card keeps the old model in use."""
    import digitlab.store.registry as registry

    original_sha = file_sha256(models_dir / "default.keras")

    def card_write_dies(path, data):
        raise KeyboardInterrupt  # the process stops right after the new version's file was renamed into place

    monkeypatch.setattr(registry, "write_json_atomic", card_write_dies)
    with pytest.raises(KeyboardInterrupt):
        register_model(new_model_file(tmp_path), "default", {}, models_dir, replace=True)
    assert default_is_intact(models_dir, original_sha, mnist)
    orphan = next(entry for entry in list_store_models() if entry.name == "default.v2")
    assert not orphan.usable and "not registered" in orphan.problem


def test_model_swapped_after_its_hash_check_is_not_what_gets_loaded(models_dir, tmp_path, monkeypatch, mnist):
    """Test that a file replaced right after its sha256 was checked cannot slip in: the checked model is loaded."""
    import hashlib

    import digitlab.store.registry as registry

    default_file = models_dir / "default.keras"
    untrained_bytes = new_model_file(tmp_path).read_bytes()

    class HashThenSwap:
        """sha256 as usual, but the file on disk is replaced the moment the digest has been taken."""

        def __init__(self, *args):
            self._hash = hashlib.sha256(*args)

        def update(self, data):
            self._hash.update(data)

        def hexdigest(self):
            digest = self._hash.hexdigest()
            default_file.write_bytes(untrained_bytes)
            return digest

    monkeypatch.setattr(registry, "hashlib", type("HashlibWithSwap", (), {"sha256": HashThenSwap}))
    model = load_entry(store_entry("default"))
    assert default_file.read_bytes() == untrained_bytes  # the swap did happen
    assert reads_digits(model, mnist)  # and yet the trained, checked model was loaded, not the untrained one


@pytest.mark.parametrize("failure", ["raises midway", "writes a broken file"])
def test_interrupted_training_save_keeps_the_previous_model(small_run, tmp_path, monkeypatch, failure, mnist):
    """Test that save_model_atomic that fails (or writes garbage) leaves the run's previous model.keras intact."""
    import keras

    from digitlab.store.atomic import save_model_atomic

    run = tmp_path / "run"
    run.mkdir()
    target = run / "model.keras"
    target.write_bytes((small_run / "model.keras").read_bytes())
    original_sha = file_sha256(target)

    def broken_save(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04" + bytes(500))  # the start of a zip, then nothing
        if failure == "raises midway":
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(Exception):
        save_model_atomic(keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten()]), target)
    assert file_sha256(target) == original_sha
    assert [path.name for path in run.iterdir()] == ["model.keras"]
    assert reads_digits(keras.models.load_model(target, safe_mode=True, compile=False), mnist)


# --- promotion -----------------------------------------------------------------------------------------------


@pytest.fixture
def finished_run(runs_dir, small_run):
    from tests.run_fixtures import make_run

    return make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run, test_accuracy=0.93)


def test_promotion_under_a_taken_name_is_refused_and_changes_nothing(models_dir, finished_run):
    """Test that promoting over an existing model without asking to replace it is refused, naming the model."""
    from digitlab.store.registry import ModelExistsError, active_model_name, promote_run

    before = {path.name: path.read_bytes() for path in models_dir.iterdir()}
    with pytest.raises(ModelExistsError, match="'default' already exists"):
        promote_run(finished_run, "default", models_dir)
    assert {path.name: path.read_bytes() for path in models_dir.iterdir()} == before
    assert active_model_name(models_dir) == "default"


def test_replacing_a_model_keeps_the_old_version_and_it_can_be_restored(models_dir, finished_run, small_run):
    """Test that --replace makes a new version, keeps the old file and card data, and restore brings it back."""
    from digitlab.store.registry import load_entry, promote_run, restore_version

    original = store_entry("default")
    replaced = promote_run(finished_run, "default", models_dir, replace=True)

    assert replaced.card["version"] == 2 and replaced.path.name == "default.v2.keras"
    assert replaced.card["previous_versions"][0]["sha256"] == original.sha256
    assert file_sha256(models_dir / "default.keras") == original.sha256, "the old version's file is kept"
    current = store_entry("default")
    assert current.sha256 == replaced.sha256 and current.card["metrics"]["mnist_test_accuracy"] == 0.93
    load_entry(current)

    restored = restore_version("default", 1, models_dir)
    assert restored.sha256 == original.sha256 and restored.card["version"] == 3
    assert [item["version"] for item in restored.card["previous_versions"]] == [2, 1]
    assert [entry.name for entry in list_store_models()] == ["default"], "old versions are not listed as models"


def test_a_model_is_found_by_name_by_run_and_by_path_and_a_wrong_name_lists_the_models(models_dir, runs_dir,
                                                                                       finished_run):
    """Test that --model accepts a registered name, a run name or folder, and a path, and says what exists."""
    by_name = resolve_model("default")
    assert by_name.name == "default" and by_name.usable
    assert resolve_model(finished_run.name).name == f"run:{finished_run.name}"
    assert resolve_model(str(finished_run)).name == f"run:{finished_run.name}"
    assert resolve_model(str(models_dir / "default.keras")).sha256 == by_name.sha256
    with pytest.raises(ModelLoadError, match=f"There is no model 'nosuch'. Models: default, run:{finished_run.name}"):
        resolve_model("nosuch")


def test_promotion_needs_a_finished_intact_run(models_dir, runs_dir, small_run):
    """Test that a failed run, or a run whose model changed after it finished, is not promoted."""
    from digitlab.store.registry import promote_run
    from tests.run_fixtures import make_run

    failed = make_run(runs_dir, "20260101-130000-cnn-small", "failed")
    with pytest.raises(ModelLoadError, match="no finished model"):
        promote_run(failed, "mine", models_dir)
    altered = make_run(runs_dir, "20260101-140000-cnn-small", "done", model_from=small_run)
    with open(altered / "model.keras", "ab") as file:
        file.write(b"tampered")
    with pytest.raises(ModelLoadError, match="does not match its recorded sha256"):
        promote_run(altered, "mine", models_dir)
    assert not (models_dir / "mine.json").exists()


def test_deleting_a_model_removes_every_version_and_the_default_stays(models_dir, finished_run):
    """Test that deleting a promoted model removes its card and files, falls back to the default, and the
    shipped default itself cannot be deleted."""
    from digitlab.store.registry import active_model_name, delete_model, promote_run

    promote_run(finished_run, "mine", models_dir, make_active=True)
    promote_run(finished_run, "mine", models_dir, replace=True)
    assert active_model_name(models_dir) == "mine"

    delete_model("mine", models_dir)

    assert sorted(path.name for path in models_dir.iterdir() if "mine" in path.name) == []
    assert active_model_name(models_dir) == "default"
    with pytest.raises(ValueError, match="cannot be deleted"):
        delete_model("default", models_dir)


def test_a_card_naming_a_file_outside_the_store_is_refused(models_dir, tmp_path):
    """Test that a card whose file field points elsewhere (../) is reported, never followed."""
    outside = tmp_path / "elsewhere.keras"
    outside.write_bytes((models_dir / "default.keras").read_bytes())
    (models_dir / "sneaky.json").write_text(json.dumps({"file": "../elsewhere.keras", "sha256": file_sha256(outside)}))

    entry = store_entry("sneaky")
    assert not entry.usable and "no valid model file" in entry.problem


@pytest.mark.parametrize(("field", "value", "words"), [
    ("metrics", [0.9], "metrics as [0.9], which is not an object"),
    ("version", "2", "version as '2', which is not a whole number"),
    ("architecture", {}, "architecture as {}, which is not text"),
    ("metrics", {"mnist_test_accuracy": "high"}, "metrics.mnist_test_accuracy as 'high', which is not a number"),
])
def test_a_card_with_a_mistyped_field_is_that_models_problem_and_every_list_still_works(models_dir, runs_dir,
                                                                                       field, value, words):
    """Test that a hand-edited card ("version": "2") makes its own model unusable, with the field named, while
    the sidebar's list, `models` and the default go on working for everyone."""
    from digitlab.cli.parser import main
    from digitlab.store.model_names import model_label
    from digitlab.store.registry import default_entry, list_models

    card = json.loads((models_dir / "default.json").read_text())
    (models_dir / "other.keras").write_bytes((models_dir / "default.keras").read_bytes())
    (models_dir / "other.json").write_text(json.dumps({**card, "name": "other", "file": "other.keras", field: value}))

    entries = {entry.name: entry for entry in list_models()}
    assert [model_label(entry) for entry in entries.values()]  # the sidebar's labels
    assert not entries["other"].usable and words in entries["other"].problem
    assert entries["default"].usable and default_entry().name == "default"
    assert main(["models", "--json"]) == 0


def _promote_when_both_are_ready(run_dir: str, barrier, results) -> None:
    from digitlab.store.registry import promote_run

    barrier.wait()
    entry = promote_run(Path(run_dir), "shared-name", replace=True)
    results.put((run_dir, entry.card["version"], entry.path.name))


def test_two_promotions_under_one_name_at_once_keep_both_models_each_as_its_own_version(models_dir, small_run,
                                                                                         tmp_path):
    """Test that two processes promoting different runs under one name at the same moment (the Train page and a
    terminal) give them different versions, each version's file matching its card: before, both took the same
    version and one model silently overwrote the other."""
    import multiprocessing
    import shutil

    from digitlab.store.registry import promote_run, restore_version

    other = tmp_path / "other-run"
    shutil.copytree(small_run, other)
    model = other / "model.keras"
    model.write_bytes(model.read_bytes() + b"\0")  # another model file: its own sha256 (zip readers skip the tail)
    status = json.loads((other / "status.json").read_text())
    litert = {**status["litert"], "model_sha256": file_sha256(model)}  # its flatbuffer, so no TensorFlow in a fork
    (other / "status.json").write_text(json.dumps({**status, "model_sha256": file_sha256(model), "litert": litert}))
    promote_run(small_run, "shared-name")
    context = multiprocessing.get_context("fork")
    for _ in range(2):
        barrier, results = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_promote_when_both_are_ready, args=(str(run), barrier, results))
                   for run in (small_run, other)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [worker.exitcode for worker in workers] == [0, 0]
        versions = [results.get(timeout=5) for _ in workers]
        assert len({version for _, version, _ in versions}) == 2, versions

    card = json.loads((models_dir / "shared-name.json").read_text())
    assert card["version"] == 5 and [item["version"] for item in card["previous_versions"]] == [4, 3, 2, 1]
    assert file_sha256(models_dir / card["file"]) == card["sha256"]
    for item in card["previous_versions"]:
        assert file_sha256(models_dir / item["file"]) == item["sha256"], item
    assert restore_version("shared-name", 3).usable
