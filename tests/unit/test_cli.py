"""The command line, run as a user runs it: a real `python -m digitlab` process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_PENDIGITS

REPO_ROOT = Path(__file__).resolve().parents[2]


def digitlab(*args, models_dir: Path, timeout=300, runs_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DIGITLAB_MODELS": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if runs_dir is not None:
        env["DIGITLAB_RUNS"] = str(runs_dir)
    return subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, timeout=timeout)


@pytest.fixture
def digit_files(tmp_path, mnist):
    """PNG and JPEG files of MNIST test digits: one white-on-black, one as dark ink on paper."""
    first = tmp_path / "seven.png"
    Image.fromarray(mnist.x_test[0]).resize((140, 140)).save(first)  # x_test[0] is a 7
    second = tmp_path / "two.jpg"
    Image.fromarray(255 - mnist.x_test[1]).resize((200, 200)).convert("RGB").save(second, quality=90)  # a 2
    return first, second


def test_predict_json_reads_each_file(digit_files, small_models_dir):
    """Test that predict --json prints one object per file with the digit and ten probabilities."""
    result = digitlab("predict", *map(str, digit_files), "--json", models_dir=small_models_dir)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["digit"] for line in lines] == [7, 2]
    assert all(len(line["probabilities"]) == 10 and abs(sum(line["probabilities"]) - 1) < 1e-3 for line in lines)
    assert lines[0]["file"].endswith("seven.png")
    assert result.stderr == "", "TensorFlow's and LiteRT's log lines stay off the terminal without --verbose"


def test_predict_bad_files_report_errors_and_carry_on(digit_files, small_models_dir, tmp_path):
    """Test that unreadable files get an error line each, good ones are still read, and the exit is non-zero."""
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    missing = tmp_path / "missing.png"
    result = digitlab("predict", str(text), str(digit_files[0]), str(missing), "--json", models_dir=small_models_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert "not a PNG or JPEG" in lines[0]["error"]
    assert lines[1]["digit"] == 7
    assert "does not exist" in lines[2]["error"]


def test_a_huge_image_gets_one_clear_error_line_and_no_pillow_warning(small_models_dir, tmp_path):
    """Test that predict on a 12000x12000 PNG says it is too large, and prints nothing else (no Pillow warning)."""
    huge = tmp_path / "huge.png"
    Image.new("L", (12000, 12000)).save(huge)
    result = digitlab("predict", str(huge), models_dir=small_models_dir)
    assert result.returncode != 0
    assert result.stderr == ""
    assert result.stdout.strip().splitlines() == [f"{huge}: error: The image is too large (12000x12000); "
                                                  "use one under 16 megapixels."]


def test_predict_blank_image_is_no_digit(small_models_dir, tmp_path):
    """Test that a blank image yields digit null rather than a guess."""
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(blank)
    result = digitlab("predict", str(blank), "--json", models_dir=small_models_dir)
    line = json.loads(result.stdout)
    assert result.returncode == 0 and line["digit"] is None and line["probabilities"] is None


def test_predict_with_unregistered_model_is_refused(digit_files, small_models_dir, tmp_path):
    """Test that --model pointing at a file without a card is not loaded, with a clear message."""
    stray = tmp_path / "stray.keras"
    stray.write_bytes((small_models_dir / "default.keras").read_bytes())
    result = digitlab("predict", str(digit_files[0]), "--model", str(stray), models_dir=small_models_dir)
    assert result.returncode == 2
    assert "not registered" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_json_reports_metrics(small_models_dir):
    """Test that evaluate --json gives accuracy, per-class precision/recall and a 10x10 confusion matrix."""
    result = digitlab("evaluate", "--json", models_dir=small_models_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == 10000
    assert abs(report["accuracy"] - np.trace(matrix) / 10000) < 1e-9 and report["accuracy"] > 0.9
    assert len(report["per_class"]) == 10 and all(0 <= row["recall"] <= 1 for row in report["per_class"])


@pytest.mark.skipif(not SHARED_PENDIGITS.exists(), reason="needs ../shared/data/pendigits-orig.tra (real pen drawings)")
def test_bench_quick_measures_everything(small_models_dir, tmp_path):
    """Test that bench --quick --json reports accuracy on MNIST, pen drawings and numbers (spaced as asked,
    written tight and overlapping; read by the registered number reader and by the segmenter alone),
    latency, throughput and memory."""
    import shutil

    from digitlab.store.number_readers import number_readers_dir

    models = tmp_path / "models"
    shutil.copytree(small_models_dir, models)
    shutil.copytree(number_readers_dir(), number_readers_dir(models))  # the shipped reader
    result = digitlab("bench", "--quick", "--json", models_dir=models, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["quick"] is True and report["mnist_test_accuracy"] > 0.9
    assert 0 < report["pendigits"]["accuracy"] <= 1
    assert report["latency"]["fast_path"]["median_ms"] < report["latency"]["model_predict"]["median_ms"]
    for key in ("draw_page_after_stroke", "batch_throughput", "training_throughput", "cold_start", "peak_memory"):
        assert key in report
    assert report["cold_start"]["peak_memory_mb"] > 0
    numbers = report["numbers"]
    assert numbers["path"] == "learned reader"
    for key in ("four_digits_from_pixels", "four_digits_from_strokes", "overlapping_four_digits_from_pixels",
                "four_digits_tight_from_pixels", "four_digits_tight_from_strokes", "one_to_eight_digits_tight_from_pixels"):
        for path in (numbers, numbers["segmenter_alone"]):  # held-out writers, on both paths
            assert 0 <= path[key]["exact"] <= 1 and 0 <= path[key]["digit_accuracy"] <= 1
        # The segmenter reads a number right only by reading every box right; the reader's number does not
        # depend on its boxes.
        assert numbers["segmenter_alone"][key]["exact"] <= numbers["segmenter_alone"][key]["digit_accuracy"]
    assert numbers["server_ms_per_four_digit_number"]["median_ms"] > 0
    assert numbers["segmenter_alone"]["server_ms_per_four_digit_number"]["median_ms"] > 0
    if SHARED_PENDIGITS.with_name("unipen-dev.tar.gz").is_file():
        assert 0 <= numbers["not_a_number"]["words_refused"] <= 1 and numbers["not_a_number"]["n"] == 40
    for path in (numbers, numbers["segmenter_alone"]):  # MNIST test digits' numbers (bench --quick reads MNIST)
        mnist_numbers = path["mnist_test_four_digits_tight_from_pixels"]
        assert 0 <= mnist_numbers["exact"] <= 1 - mnist_numbers["refused"]


def test_model_is_named_the_same_way_on_every_command(digit_files, small_models_dir, small_run, tmp_path):
    """Test that --model takes a registered name on predict and evaluate, a run's name works too, and a wrong
    name is refused with the models that exist."""
    from tests.run_fixtures import make_run

    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run)

    predicted = digitlab("predict", str(digit_files[0]), "--json", "--model", "default", models_dir=small_models_dir,
                         runs_dir=runs_dir)
    assert predicted.returncode == 0 and json.loads(predicted.stdout)["digit"] == 7, predicted.stderr
    evaluated = digitlab("evaluate", "--json", "--model", "20260101-120000-cnn-small", models_dir=small_models_dir,
                         runs_dir=runs_dir)
    report = json.loads(evaluated.stdout)
    assert evaluated.returncode == 0 and report["model"] == "run:20260101-120000-cnn-small" and report["accuracy"] > 0.9

    wrong = digitlab("evaluate", "--model", "defualt", models_dir=small_models_dir, runs_dir=runs_dir)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "There is no model 'defualt'. Models: default, run:20260101-120000-cnn-small" in wrong.stderr


def test_promote_refuses_to_replace_without_asking_and_keeps_the_old_version(small_models_dir, small_run, tmp_path):
    """Test that `promote --name default` is refused, `--replace` makes version 2 and keeps version 1's file,
    and `models` lists the new default."""
    import shutil

    from tests.run_fixtures import make_run

    models_dir = Path(shutil.copytree(small_models_dir, tmp_path / "models"))
    runs_dir = tmp_path / "runs"
    run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run, test_accuracy=0.46)
    original = (models_dir / "default.keras").read_bytes()
    before = sorted(path.name for path in models_dir.iterdir())

    refused = digitlab("promote", str(run_dir), "--name", "default", models_dir=models_dir, runs_dir=runs_dir)
    assert refused.returncode == 2 and "already exists" in refused.stderr and "--replace" in refused.stderr
    missing = digitlab("promote", "runs/nope", models_dir=models_dir, runs_dir=runs_dir)
    assert missing.returncode == 2
    assert "There is no run folder runs/nope and no finished run named 'runs/nope'" in missing.stderr
    assert "run:runs/nope" not in missing.stderr  # a folder was asked for, not a model named run:...
    assert sorted(path.name for path in models_dir.iterdir()) == before
    assert {"default.json", "default.keras", "default.tflite"} <= set(before)

    replaced = digitlab("promote", run_dir.name, "--name", "default", "--replace", models_dir=models_dir,
                        runs_dir=runs_dir)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["version"] == 2
    assert (models_dir / "default.keras").read_bytes() == original, "version 1 is kept"

    listed = [json.loads(line) for line in digitlab("models", "--json", models_dir=models_dir,
                                                     runs_dir=runs_dir).stdout.splitlines()]
    default = next(row for row in listed if row["name"] == "default")
    assert default["version"] == 2 and default["mnist_test_accuracy"] == 0.46 and default["default"]
def test_the_shipped_default_can_be_made_the_default_again(small_models_dir, small_run, tmp_path):
    """Test that `promote` changes the default only with --default, and that afterwards both
    `restore default --version 1 --default` and `set-default default` give everyone the shipped model again."""
    import shutil

    from tests.run_fixtures import make_run

    models_dir = Path(shutil.copytree(small_models_dir, tmp_path / "models"))
    runs_dir = tmp_path / "runs"
    run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run)

    def default_name() -> str:
        listed = digitlab("models", "--json", models_dir=models_dir, runs_dir=runs_dir).stdout.splitlines()
        return next(row["name"] for row in map(json.loads, listed) if row["default"])

    added = digitlab("promote", str(run_dir), "--name", "added", models_dir=models_dir, runs_dir=runs_dir)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["default"] is False and default_name() == "default"
    assert "everyone still gets 'default'" in added.stderr and "set-default added" in added.stderr
    promoted = digitlab("promote", str(run_dir), "--name", "tuned", "--default", models_dir=models_dir,
                        runs_dir=runs_dir)
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["default"] is True and default_name() == "tuned"

    kept = digitlab("restore", "default", "--version", "1", models_dir=models_dir, runs_dir=runs_dir)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["default"] is False and default_name() == "tuned"
    assert "set-default default" in kept.stderr
    restored = digitlab("restore", "default", "--version", "1", "--default", models_dir=models_dir, runs_dir=runs_dir)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["default"] is True and default_name() == "default"
    assert json.loads(restored.stdout)["version"] == 1 and sorted(path.name for path in models_dir.glob("default*")) == [
        "default.json", "default.keras", "default.tflite"], "nothing was copied: version 1 was current"
    missing = digitlab("restore", "default", "--version", "7", models_dir=models_dir, runs_dir=runs_dir)
    assert missing.returncode == 2 and "'default' has no version 7" in missing.stderr

    digitlab("set-default", "tuned", models_dir=models_dir, runs_dir=runs_dir)
    chosen = digitlab("set-default", "default", models_dir=models_dir, runs_dir=runs_dir)
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["default"] is True
    assert default_name() == "default"
    unknown = digitlab("set-default", "nope", models_dir=models_dir, runs_dir=runs_dir)
    assert unknown.returncode == 2 and "There is no model 'nope'" in unknown.stderr


def test_predict_number_json_gives_number_digits_and_boxes(tmp_path, mnist, small_models_dir):
    """Test that predict --number --json reads a photo of a written number (dark ink on paper) into
    its digits with boxes, gives null for a blank page, and an error line and exit 1 for a bad file."""
    digits = [mnist.x_test[i] for i in (0, 1, 2)]  # a 7, a 2 and a 1
    paper = np.full((100, 300), 255, np.uint8)
    for index, digit in enumerate(digits):
        paper[10:90, 20 + index * 90 : 100 + index * 90] = 255 - np.asarray(Image.fromarray(digit).resize((80, 80)))
    number = tmp_path / "number.png"
    Image.fromarray(paper).save(number)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 300), 255, np.uint8)).save(blank)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")

    result = digitlab("predict", "--number", str(number), str(blank), str(broken), "--json", models_dir=small_models_dir)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    read, empty, bad = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert read["file"].endswith("number.png")
    assert read["number"] == "721"
    assert [digit["digit"] for digit in read["digits"]] == [7, 2, 1]
    for index, digit in enumerate(read["digits"]):
        x0, y0, x1, y1 = digit["box"]
        assert 20 + index * 90 <= x0 < x1 <= 100 + index * 90 and 10 <= y0 < y1 <= 90
        assert len(digit["probabilities"]) == 10
    assert empty["number"] is None and empty["digits"] == []
    assert bad["file"].endswith("broken.png") and "error" in bad


def test_models_says_which_number_reader_reads_numbers(small_models_dir, tmp_path):
    """Test that `models` names the registered number reader, and says numbers are cut into digits without one."""
    import shutil

    from digitlab.store.number_readers import number_readers_dir

    without = digitlab("models", models_dir=small_models_dir)
    assert without.returncode == 0 and "no number reader is registered" in without.stdout
    models = tmp_path / "models"
    shutil.copytree(small_models_dir, models)
    shutil.copytree(number_readers_dir(), number_readers_dir(models))  # the shipped reader
    listed = digitlab("models", models_dir=models)
    assert listed.returncode == 0
    card = json.loads((number_readers_dir(models) / "default.json").read_text())
    served = number_readers_dir(models) / card["file"]
    assert f"read by the number reader {served} (version {card['version']}," in listed.stdout
    assert all(json.loads(line)["architecture"] != "number_reader"
               for line in digitlab("models", "--json", models_dir=models).stdout.splitlines())


def test_an_option_a_command_does_not_have_is_refused_with_that_commands_own_usage(capsys):
    """Test that `evaluate --limit 500` (an option evaluate lacks) shows evaluate's options, not the list of
    commands, and exits with argparse's status 2 before any work."""
    from digitlab.cli.parser import main

    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--limit", "500"])
    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert error.startswith("usage: python -m digitlab evaluate ") and "--dataset" in error
    assert "python -m digitlab evaluate: error: unrecognized arguments: --limit 500" in error


@pytest.mark.parametrize("options, words", [
    (["--init-from", "nosuchmodel"], "There is no model 'nosuchmodel'"),
    (["--threads", "-1"], "threads must be from 1"),
    (["--seed", "-1"], "seed must be from 0"),
    (["--init-from", "a" * 300], "There is no model 'aaaa"),
])
def test_train_refuses_what_it_cannot_train_before_making_a_run_folder(small_models_dir, tmp_path, options, words):
    """Test that a missing model to start from, a thread count TensorFlow would abort on, a seed it refuses, and a
    name too long to be a path are each refused at once with exit 2 and no run folder (they used to leave a
    failed or forever-"running" run, or a traceback)."""
    runs_dir = tmp_path / "runs"
    done = digitlab("train", "--arch", "mlp", "--epochs", "1", "--limit", "200", *options,
                    models_dir=small_models_dir, runs_dir=runs_dir, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_model_name_too_long_to_be_a_path_is_no_model_not_a_traceback(small_models_dir, digit_files):
    """Test that predict --model with a 300-character name says there is no such model."""
    done = digitlab("predict", str(digit_files[0]), "--model", "a" * 300, models_dir=small_models_dir)
    assert done.returncode == 2 and "There is no model 'aaaa" in done.stderr and "Traceback" not in done.stderr
