"""--pen-digits files that would give a run no pen digits to train on, refused before any run folder is made.

Run as a user runs them: a real `python -m digitlab` process (as in test_cli_inputs.py), on small pendigits files
written here in the format of pendigits-orig.tra.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.datasets.pendigits import HELD_OUT_WRITERS

REPO_ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {  # each command's smallest run, so a command that wrongly went ahead would still end soon
    "train": ["--arch", "mlp", "--epochs", "1", "--limit", "200"],
    "recipe": ["default", "--tiny"],
    "number-reader": ["--numbers", "64", "--epochs", "1", "--mnist-numbers", "0"],
}


def write_pendigits(path: Path, writers: list[int]) -> Path:
    """A pendigits file holding one two-stroke 1 by each writer, in the UNIPEN text of pendigits-orig.tra."""
    lines = ['.LEXICON "0" "1" "2" "3" "4" "5" "6" "7" "8" "9"', ".HIERARCHY      DIGIT", ""]
    for index, writer in enumerate(writers):
        lines += [f'.SEGMENT DIGIT    {index} ? "1"', f".COMMENT 1 {writer}  100",
                  ".PEN_DOWN", " 250  400", " 250  250", " 250  100", ".PEN_UP",
                  ".PEN_DOWN", " 220  380", " 250  400", ".PEN_UP", ""]
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize("command", ["train", "recipe", "number-reader"])
def test_a_pen_digits_file_of_held_out_writers_alone_is_refused_before_any_run_folder(tmp_path, command):
    """Test that `train --pen-digits FILE` (or recipe's, or number-reader's) where FILE holds only writers held out
    from training is refused naming the file and those writers, with exit 2 and no run folder (it used to train on
    no pen digits at all, as if with them)."""
    held_out_only = write_pendigits(tmp_path / "held-out.tra", [7, 3, 7])
    out_folder = tmp_path / "out"
    folder_options = {"train": [], "recipe": ["--out", str(out_folder), "--unipen", str(tmp_path / "unipen.tar.gz")],
                      "number-reader": ["--out", str(out_folder)]}[command]
    env = {**os.environ, "DIGITLAB_RUNS": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "digitlab", command, *OPTIONS[command], *folder_options,
                           "--pen-digits", str(held_out_only)], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, stdin=subprocess.DEVNULL, start_new_session=True, timeout=120)

    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [
        f"error: {held_out_only} holds only writers held out from training (2 of the {len(HELD_OUT_WRITERS)}: 3, 7), "
        "so a run would train on none of its pen digits; give pendigits-orig.tra, whose other writers are trained "
        "on (see ../shared/data/README.md)."]
    assert not (tmp_path / "runs").exists() and not out_folder.exists()


def test_a_pen_digits_file_with_one_training_writer_among_held_out_ones_is_taken(tmp_path):
    """Test that a file whose held-out writers come with a single training writer is not refused: that writer's
    digits are trained on."""
    from digitlab.datasets.pendigits import pen_digits_refusal

    training_writer = min(set(range(1, 31)) - HELD_OUT_WRITERS)
    mixed = write_pendigits(tmp_path / "mixed.tra", [3, training_writer, 7])

    assert pen_digits_refusal(mixed) is None
