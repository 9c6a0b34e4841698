"""The drawing bank's command line, run as a user runs it, on SQLite and (in CI) PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_PENDIGITS
from tests.databases import BACKENDS, fresh_database_url

REPO_ROOT = Path(__file__).resolve().parents[2]


def digitlab(*args, database: str, models_dir: Path, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "DIGITLAB_MODELS": str(models_dir), "DIGITLAB_DATABASE_URL": database,
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, timeout=timeout)


def json_lines(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.strip().splitlines()]


@pytest.fixture
def sevens(tmp_path, mnist) -> list[Path]:
    """Two PNG files of MNIST test sevens, drawn large like a canvas drawing."""
    files = []
    for number, index in enumerate(np.flatnonzero(mnist.y_test == 7)[:2]):
        path = tmp_path / f"seven-{number}.png"
        Image.fromarray(mnist.x_test[index]).resize((280, 280)).save(path)
        files.append(path)
    return files


@pytest.mark.parametrize("backend", BACKENDS)
def test_round_trip_add_list_evaluate_export_import(backend, tmp_path, sevens, small_models_dir):
    """Test that drawings added by the CLI are listed, evaluated, exported and imported into a fresh database, once."""
    database = fresh_database_url(backend, tmp_path / "first")
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")

    added = digitlab("drawings", "add", *map(str, sevens), str(notes), "--label", "7", "--writer", "Ana", "--json",
                     database=database, models_dir=small_models_dir)
    assert added.returncode == 1, added.stderr  # one file failed
    lines = json_lines(added)
    assert [("id" in line, "error" in line) for line in lines] == [(True, False), (True, False), (False, True)]
    assert "not a PNG or JPEG" in lines[2]["error"]

    listed = digitlab("drawings", "list", "--json", database=database, models_dir=small_models_dir)
    assert listed.returncode == 0, listed.stderr
    rows = json_lines(listed)
    assert sorted(row["id"] for row in rows) == sorted(line["id"] for line in lines[:2])
    assert all(row["label"] == 7 and row["writer"] == "Ana" and row["source"] == "upload" and row["created_at"]
               for row in rows)
    assert all(row["reading"] in range(10) and len(row["probabilities"]) == 10 for row in rows)

    evaluated = digitlab("evaluate", "--dataset", "drawings", "--writer", "Ana", "--json", database=database,
                         models_dir=small_models_dir)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["images"] == 2 and report["dataset"] == "drawings"
    right = sum(row["reading"] == 7 for row in rows)  # the readings stored at add time, by the same model
    assert report["accuracy"] == pytest.approx(right / 2)
    assert np.array(report["confusion_matrix"]).sum() == 2 and report["per_class"][7]["support"] == 2

    nobody = digitlab("evaluate", "--dataset", "drawings", "--writer", "Zed", "--json", database=database,
                      models_dir=small_models_dir)
    assert nobody.returncode == 2 and "no labelled drawings by writer Zed" in nobody.stderr

    out = tmp_path / "bank.zip"
    exported = digitlab("drawings", "export", str(out), database=database, models_dir=small_models_dir)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["drawings"] == 2 and out.exists()

    fresh = fresh_database_url(backend, tmp_path / "second")
    imported = digitlab("drawings", "import", str(out), database=fresh, models_dir=small_models_dir)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {"file": str(out), "added": 2, "already_in_bank": 0, "problems": []}
    again = digitlab("drawings", "import", str(out), database=fresh, models_dir=small_models_dir)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"file": str(out), "added": 0, "already_in_bank": 2, "problems": []}
    assert f"{out}: 0 new, 2 already in the bank" in again.stderr
    copies = json_lines(digitlab("drawings", "list", "--json", database=fresh, models_dir=small_models_dir))
    assert sorted((row["label"], row["writer"], row["reading"], row["created_at"]) for row in copies) == sorted(
        (row["label"], row["writer"], row["reading"], row["created_at"]) for row in rows)


def test_add_with_a_label_outside_0_to_9_stores_nothing(tmp_path, sevens, small_models_dir):
    """Test that --label 12 is refused with a message before any file is stored."""
    database = fresh_database_url("sqlite", tmp_path)
    result = digitlab("drawings", "add", str(sevens[0]), "--label", "12", "--json", database=database,
                      models_dir=small_models_dir)
    assert result.returncode == 2
    assert "digit from 0 to 9" in result.stderr and "Traceback" not in result.stderr
    listed = digitlab("drawings", "list", "--json", database=database, models_dir=small_models_dir)
    assert listed.returncode == 0 and listed.stdout.strip() == ""


def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path, mnist, small_models_dir):
    """Test that `drawings list --json | head -1` ends without a traceback when head stops reading."""
    from tests.databases import bank_of_mnist_digits

    database = fresh_database_url("sqlite", tmp_path)
    bank_of_mnist_digits(database, mnist, 3000, ["ana"])  # far more lines than a pipe's buffer holds
    env = {**os.environ, "DIGITLAB_MODELS": str(small_models_dir), "DIGITLAB_DATABASE_URL": database}
    lister = subprocess.Popen([sys.executable, "-m", "digitlab", "drawings", "list", "--json"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = json.loads(lister.stdout.readline())
    lister.stdout.close()  # the reader goes away, as head does
    errors = lister.stderr.read().decode()
    assert lister.wait(timeout=60) == 0, errors
    assert "Traceback" not in errors and first["writer"] == "ana"


def test_a_broken_secrets_file_stops_the_bank_commands_with_a_message_and_creates_no_database(tmp_path):
    """Test that with an unparseable .streamlit/secrets.toml, `drawings list` says why it will not open the
    bank, exits 2 without a traceback, and leaves no SQLite file behind."""
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[auth\nclient_id = 'x'\n")
    env = {key: value for key, value in os.environ.items() if key != "DIGITLAB_DATABASE_URL"}
    env.update(DIGITLAB_RUNS=str(tmp_path / "runs"), PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-m", "digitlab", "drawings", "list", "--json"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error: The drawing bank is not opened while DigitLab's configuration is broken" in result.stderr
    assert "secrets.toml does not parse" in result.stderr
    assert not list(tmp_path.rglob("*.sqlite"))


def test_importing_a_text_file_named_zip_says_it_is_not_a_zip(tmp_path):
    """Test that `drawings import notes.zip` on a text file exits 2 saying it is not a zip archive, not UNIPEN."""
    notes = tmp_path / "notes.zip"
    notes.write_text("hello world\n")
    result = digitlab("drawings", "import", str(notes), database=f"sqlite:///{tmp_path / 'bank.sqlite'}",
                      models_dir=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: notes.zip is not a zip archive" in result.stderr
    assert "UNIPEN pen-digit text." in result.stderr and ".SEGMENT" not in result.stderr


def test_drawings_add_reads_with_the_models_flatbuffer_as_the_draw_page_does(tmp_path):
    """Test that `drawings add` stores the shipped model's reading made from its flatbuffer, never importing
    TensorFlow, and records which model read it."""
    from tests.unit.test_flatbuffer import run_fresh

    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[40:240, 130:150] = 255  # a plain vertical stroke: a 1
    png = tmp_path / "one.png"
    Image.fromarray(canvas).save(png)
    database = f"sqlite:///{tmp_path / 'bank.sqlite'}"
    out = run_fresh(f"""
        from digitlab.cli.parser import main
        assert main(["drawings", "add", {str(png)!r}, "--label", "1", "--json"]) == 0
        from digitlab.bank.repository import open_bank
        [drawing] = open_bank({database!r}).drawings()
        print(drawing.reading, drawing.model_sha256)
    """, tmp_path, DIGITLAB_DATABASE_URL=database)
    card = json.loads((REPO_ROOT / "models" / "default.json").read_text())
    assert f"1 {card['sha256']}" in out and "no tensorflow" in out


@pytest.mark.skipif(not SHARED_PENDIGITS.is_file(), reason="needs ../shared/data/pendigits-orig.tra")
@pytest.mark.parametrize("writers, words", [
    ("0", "holds no digit by the writers 0: nothing was imported"),
    ("5-3", "use numbers from 0 to"),
    ("1-99999999999", "use numbers from 0 to"),
])
def test_importing_writers_a_file_does_not_have_says_so_instead_of_nothing_or_a_memory_error(tmp_path, writers,
                                                                                             words):
    """Test that `drawings import --writers` naming no writer of the file (or a reversed or absurd range, which
    ran out of memory) exits 2 with a reason, instead of "0 new" and success or a MemoryError traceback."""
    result = digitlab("drawings", "import", str(SHARED_PENDIGITS), "--writers", writers,
                      database=f"sqlite:///{tmp_path / 'bank.sqlite'}", models_dir=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert words in result.stderr


def test_deleting_an_id_past_the_database_s_integers_reports_it_missing(tmp_path):
    """Test that `drawings delete 99999999999999999999` says the id is missing instead of an OverflowError."""
    result = digitlab("drawings", "delete", "99999999999999999999", database=f"sqlite:///{tmp_path / 'bank.sqlite'}",
                      models_dir=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["missing"] == [99999999999999999999]
