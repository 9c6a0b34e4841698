"""Ensembles: finished runs averaged into one registered model that loads safely and predicts their mean."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.cli.parser import main
from digitlab.serving.predictor import Predictor
from digitlab.store.registry import active_model_name, entry_for_path, load_entry


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory, mnist):
    """A second finished run, of a different architecture, so the members disagree on some images."""
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.trainer import run_training

    run_dir = tmp_path_factory.mktemp("runs") / "mlp-run"
    status = run_training(TrainConfig(arch="mlp", epochs=1, limit=2000, augment=False, seed=3), run_dir)
    assert status.state == "done", status
    return run_dir


def test_ensemble_predicts_the_mean_of_its_members_and_becomes_active(models_dir, small_run, mlp_run, mnist, capsys):
    """Test that `ensemble` registers one model whose probabilities are the members' mean, with a full card."""
    exit_code = main(["ensemble", str(small_run), str(mlp_run), "--name", "pair"])
    printed = json.loads(capsys.readouterr().out)

    assert exit_code == 0
    assert printed["name"] == "pair" and active_model_name(models_dir) == "pair"
    assert printed["default"] is True, "the output says that everyone now gets the ensemble"
    entry = entry_for_path(models_dir / "pair.keras")
    assert entry.usable and entry.sha256 == printed["sha256"]
    card = entry.card
    assert [member["run"] for member in card["members"]] == ["small-run", "mlp-run"]
    assert card["command"].count("python -m digitlab train") == 2
    assert card["command"].endswith("--name pair")

    images = mnist.x_test[:200]
    members = [Predictor(load_entry(entry_for_path(run / "model.keras"))) for run in (small_run, mlp_run)]
    expected = np.mean([member.predict_mnist(images) for member in members], axis=0)
    ensemble = Predictor(load_entry(entry))  # load_entry uses safe_mode=True
    np.testing.assert_allclose(ensemble.predict_mnist(images), expected, atol=1e-5)
    accuracy = float((ensemble.predict_mnist(mnist.x_test).argmax(1) == mnist.y_test).mean())
    assert card["metrics"]["mnist_test_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_ensemble_of_one_run_is_refused_with_a_message(models_dir, small_run, capsys):
    """Test that averaging a single run is refused clearly and registers nothing."""
    assert main(["ensemble", str(small_run), "--name", "solo"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert not (models_dir / "solo.keras").exists()


@pytest.mark.parametrize("namings, said", [
    (["{small}", "{small}", "{small}"], "'{small}', '{small}' and '{small}'"),  # an "ensemble" of one model copied
    (["{small}", "{mlp}", "{small}/../small-run/model.keras"],  # its folder, then its model file by another path
     "'{small}' and '{small}/../small-run/model.keras'"),
], ids=["three-times", "folder-and-its-model-file"])
def test_ensemble_naming_one_run_twice_is_refused_with_a_message(models_dir, small_run, mlp_run, namings, said,
                                                                 capsys):
    """Test that a run given twice, however its path is written, is refused before anything is averaged, saying
    which arguments are the same model, and that nothing is registered or made the default."""
    members = [naming.format(small=small_run, mlp=mlp_run) for naming in namings]

    exit_code = main(["ensemble", *members, "--name", "copies"])

    error = capsys.readouterr().err
    assert exit_code == 2
    same_file = (small_run / "model.keras").resolve()
    assert f"{said.format(small=small_run)} are the same model ({same_file})" in error, error
    assert "give each run or model once" in error
    assert not (models_dir / "copies.keras").exists() and not (models_dir / "copies.json").exists()
    assert active_model_name(models_dir) != "copies"


def test_ensemble_with_an_altered_member_is_refused(models_dir, small_run, mlp_run, tmp_path, capsys):
    """Test that a member whose file no longer matches its run's sha256 is never loaded."""
    import shutil

    altered = tmp_path / "altered-run"
    shutil.copytree(mlp_run, altered)
    with open(altered / "model.keras", "ab") as model_file:
        model_file.write(b"extra")

    assert main(["ensemble", str(small_run), str(altered), "--name", "pair"]) == 2
    assert "sha256" in capsys.readouterr().err
    assert not (models_dir / "pair.keras").exists()


def test_distillation_targets_mix_the_label_with_the_teachers_probabilities_where_it_reads_the_label(small_run,
                                                                                                     mnist):
    """Test that a student's targets are (1 - w) * one-hot label + w * the teacher's probabilities where the
    teacher reads the label, and the label alone where it misreads it."""
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.distillation import teacher_targets

    teacher_path = small_run / "model.keras"
    config = TrainConfig(arch="mlp", teacher=str(teacher_path), teacher_weight=0.6)
    images = mnist.x_test[:200, :, :, None].astype(np.float32)
    labels = mnist.y_test[:200].astype(np.int32)

    _, targets = teacher_targets(config)(images, labels)

    beliefs = load_entry(entry_for_path(teacher_path))(images, training=False).numpy()  # the Keras teacher itself
    reads = beliefs.argmax(axis=1) == labels
    assert reads.any() and not reads.all(), "the small teacher should read some of these digits and misread others"
    expected = np.where(reads[:, None], 0.4 * np.eye(10)[labels] + 0.6 * beliefs, np.eye(10)[labels])
    np.testing.assert_allclose(np.asarray(targets), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(targets).sum(axis=1), 1.0, atol=1e-5)


def test_a_ten_digit_teacher_leaves_not_a_digit_labels_to_the_label(small_run, mnist):
    """Test that an 11-output student distilled from a 10-output teacher learns "not a digit" from the label
    alone, and digits from the mix with the teacher's belief padded with a zero "not a digit" share."""
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.distillation import teacher_targets

    teacher_path = small_run / "model.keras"
    config = TrainConfig(arch="mlp", teacher=str(teacher_path), teacher_weight=0.5)
    images = mnist.x_test[:64, :, :, None].astype(np.float32)
    labels = np.where(np.arange(64) % 2 == 0, 10, mnist.y_test[:64]).astype(np.int32)

    _, targets = images, np.asarray(teacher_targets(config, classes=11)(images, labels)[1])

    assert targets.shape == (64, 11)
    np.testing.assert_allclose(targets[labels == 10], np.eye(11)[[10] * int((labels == 10).sum())], atol=1e-6)
    digits = targets[labels != 10]
    assert (digits[:, 10] == 0).all()
    np.testing.assert_allclose(digits.sum(axis=1), 1.0, atol=1e-5)


def test_training_with_an_unregistered_teacher_fails_clearly(tmp_path, small_run):
    """Test that a teacher file without a registration is never loaded: the run fails and says why."""
    import shutil

    from digitlab.store.run_config import TrainConfig
    from digitlab.training.trainer import run_training

    stray = tmp_path / "stray.keras"
    shutil.copyfile(small_run / "model.keras", stray)
    status = run_training(TrainConfig(arch="mlp", epochs=1, limit=200, augment=False, teacher=str(stray)),
                          tmp_path / "run")
    assert status.state == "failed"
    assert "not registered" in status.message
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["teacher"] == str(stray)
