"""The LiteRT flatbuffer beside each registered model: written at registration, checked at load, served without TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from digitlab.store.atomic import read_json, write_json_atomic
from digitlab.store.flatbuffers import FlatbufferRefused, flatbuffer_path, read_flatbuffer
from digitlab.serving.predictor import load_serving_predictor
from digitlab.store.registry import entry_for_path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DEFAULT = REPO_ROOT / "models" / "default.keras"

# Run in a fresh interpreter: which modules a serving path imports can only be seen from a clean start.
NO_TENSORFLOW_CHECK = """
import sys
heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
assert not heavy, f"the serving path imported {heavy[:5]}"
print("no tensorflow")
"""


def run_fresh(code: str, tmp_path: Path, **environment: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + NO_TENSORFLOW_CHECK], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=180,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "DIGITLAB_MODELS": str(REPO_ROOT / "models"), **environment})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def drawing_png(tmp_path) -> Path:
    """A plain vertical stroke, a 1, as the Draw page's canvas sends it: white ink on opaque black paper."""
    from PIL import Image

    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[40:240, 130:150] = 255
    path = tmp_path / "one.png"
    Image.fromarray(canvas).save(path)
    return path


def test_shipped_default_has_a_flatbuffer_matching_its_card():
    """Test that models/default.tflite is committed and its card's sha256 matches it and the .keras file."""
    entry = entry_for_path(SHIPPED_DEFAULT)
    assert entry.usable, entry.problem
    assert entry.card["litert"]["model_sha256"] == entry.sha256
    assert len(read_flatbuffer(entry.path, entry.card)) > 100_000


def test_serving_the_default_model_never_imports_tensorflow(tmp_path, drawing_png):
    """Test that loading the default model and reading a drawing leaves TensorFlow and Keras unimported."""
    out = run_fresh(f"""
        from digitlab.serving.predictor import load_serving_predictor
        from digitlab.serving.images import read_image_file
        from digitlab.store.registry import default_entry
        predictor = load_serving_predictor(default_entry())
        assert predictor.serving.from_flatbuffer, predictor.serving
        prediction = predictor.predict_image(read_image_file({str(drawing_png)!r}))
        assert prediction.digit == 1, prediction
    """, tmp_path)
    assert "no tensorflow" in out


def test_predict_command_never_imports_tensorflow(tmp_path, drawing_png):
    """Test that `python -m digitlab predict` reads a file with LiteRT, numpy and Pillow only."""
    out = run_fresh(f"""
        from digitlab.cli.parser import main
        assert main(["predict", {str(drawing_png)!r}, "--json"]) == 0
    """, tmp_path)
    assert json.loads(out.splitlines()[0])["digit"] == 1


def test_draw_page_and_upload_never_import_tensorflow(tmp_path, drawing_png):
    """Test that the whole app (sidebar, Draw page, a drawing read, then an upload read) runs without TensorFlow,
    and the first page and drawing without scipy."""
    out = run_fresh(f"""
        from pathlib import Path
        import numpy as np
        from PIL import Image
        from streamlit.testing.v1 import AppTest
        import digitlab.ui.canvas
        drawing = np.asarray(Image.open({str(drawing_png)!r}).convert("RGBA"))
        digitlab.ui.canvas.drawing_canvas = lambda *args, **kwargs: drawing
        at = AppTest.from_file("app.py", default_timeout=120).run()
        assert not at.exception, at.exception
        assert at.metric[0].value == "1", [m.value for m in at.metric]
        import sys
        # scipy takes about 0.5 s to import: the first page of a fresh server and its first drawing skip it
        assert "scipy" not in sys.modules, "the Draw page or a drawing read imported scipy"
        at.session_state["input_source"] = "Upload"
        at.run()
        at.file_uploader[0].set_value(("one.png", Path({str(drawing_png)!r}).read_bytes(), "image/png"))
        at.run()
        assert not at.exception, at.exception
        assert at.metric[0].value == "1", [m.value for m in at.metric]
    """, tmp_path)
    assert "no tensorflow" in out


@pytest.fixture
def registered(tmp_path, small_models_dir) -> Path:
    """A private copy of a models/ folder whose 'default' was registered by promotion."""
    directory = tmp_path / "models"
    shutil.copytree(small_models_dir, directory)
    return directory / "default.keras"


def test_registration_writes_the_flatbuffer_and_records_it(registered):
    """Test that promoting a run leaves default.tflite beside the model and its sha256 in the card."""
    card = read_json(registered.with_suffix(".json"))
    assert card["litert"]["file"] == "default.tflite"
    assert flatbuffer_path(registered).is_file()
    predictor = load_serving_predictor(entry_for_path(registered))
    assert predictor.serving.from_flatbuffer and predictor.model is None


def test_an_altered_flatbuffer_is_refused_and_the_model_still_served(registered, mnist):
    """Test that a flatbuffer not matching its card is refused, and the .keras file gives the same answers."""
    entry = entry_for_path(registered)
    expected = load_serving_predictor(entry).predict_mnist(mnist.x_test[:20])
    flatbuffer = flatbuffer_path(registered)
    data = bytearray(flatbuffer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flatbuffer.write_bytes(bytes(data))

    with pytest.raises(FlatbufferRefused, match="sha256"):
        read_flatbuffer(entry.path, entry.card)
    predictor = load_serving_predictor(entry)
    assert not predictor.serving.from_flatbuffer and "sha256" in predictor.serving.note
    np.testing.assert_allclose(predictor.predict_mnist(mnist.x_test[:20]), expected, atol=1e-5)


def test_a_flatbuffer_of_another_model_version_is_refused(registered):
    """Test that a flatbuffer made from an earlier .keras file is not served for a newer one."""
    card_path = registered.with_suffix(".json")
    card = read_json(card_path)
    card["litert"]["model_sha256"] = "0" * 64
    write_json_atomic(card_path, card)
    predictor = load_serving_predictor(entry_for_path(registered))
    assert not predictor.serving.from_flatbuffer and "another version" in predictor.serving.note


def test_a_missing_flatbuffer_falls_back_to_the_keras_file(registered):
    """Test that a model whose flatbuffer was deleted still loads, from its .keras file."""
    flatbuffer_path(registered).unlink()
    predictor = load_serving_predictor(entry_for_path(registered))
    assert not predictor.serving.from_flatbuffer and "cannot be read" in predictor.serving.note
    assert predictor.predict_mnist(np.zeros((1, 28, 28), np.uint8)).shape == (1, 10)


def test_without_litert_the_model_is_served_by_tensorflow(registered, monkeypatch, mnist):
    """Test that where LiteRT is not installed, a model is still registered and served, by TensorFlow."""
    expected = load_serving_predictor(entry_for_path(registered)).predict_mnist(mnist.x_test[:20])
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # `import ai_edge_litert...` now raises ImportError
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)

    predictor = load_serving_predictor(entry_for_path(registered))
    assert predictor.serving.runtime == "tensorflow" and "not installed" in predictor.serving.note
    # TensorFlow runs the float weights the flatbuffer holds as 8-bit integers: close, not identical.
    np.testing.assert_allclose(predictor.predict_mnist(mnist.x_test[:20]), expected, atol=0.05)

    from digitlab.store.registry import register_model

    again = register_model(registered, "without-litert", {}, registered.parent)
    assert "not installed" in again.card["litert"]["error"]
    assert not flatbuffer_path(again.path).exists()
    assert load_serving_predictor(again).serving.runtime == "tensorflow"


def test_choosing_a_finished_runs_model_never_imports_tensorflow(tmp_path, small_run, drawing_png):
    """Test that a run leaves its LiteRT flatbuffer as it finishes, recorded like a registered model's, and that
    choosing the run's model in the sidebar reads a drawing with it while TensorFlow is never imported."""
    status = json.loads((small_run / "status.json").read_text())
    assert status["litert"]["file"] == "model.tflite" and status["litert"]["model_sha256"] == status["model_sha256"]
    run_model = f"run:{small_run.name}"

    out = run_fresh(f"""
        import numpy as np
        from PIL import Image
        from streamlit.testing.v1 import AppTest
        import digitlab.ui.canvas
        from digitlab.serving.predictor import load_serving_predictor
        from digitlab.store.registry import find_entry
        predictor = load_serving_predictor(find_entry({run_model!r}))
        assert predictor.serving.from_flatbuffer, predictor.serving
        drawing = np.asarray(Image.open({str(drawing_png)!r}).convert("RGBA"))
        digitlab.ui.canvas.drawing_canvas = lambda *args, **kwargs: drawing
        at = AppTest.from_file("app.py", default_timeout=120)
        at.session_state["model_name"] = {run_model!r}
        at.run()
        assert not at.exception, at.exception
        assert at.selectbox(key="model_name").value == {run_model!r}
        assert at.metric[0].value in "0123456789", [m.value for m in at.metric]
    """, tmp_path, DIGITLAB_RUNS=str(small_run.parent))
    assert "no tensorflow" in out


def test_promoting_a_run_copies_its_flatbuffer_without_tensorflow(tmp_path, small_run):
    """Test that promoting a finished run registers the flatbuffer its trainer wrote (the same bytes), so the
    owner's server does not load TensorFlow to convert it again."""
    models = tmp_path / "models"
    out = run_fresh(f"""
        from pathlib import Path
        from digitlab.store.registry import promote_run
        entry = promote_run(Path({str(small_run)!r}), "promoted", Path({str(models)!r}), make_active=False)
        print(entry.card["litert"]["sha256"])
    """, tmp_path)
    assert out.splitlines()[0] == json.loads((small_run / "status.json").read_text())["litert"]["sha256"]
    assert (models / "promoted.tflite").read_bytes() == (small_run / "model.tflite").read_bytes()


def test_the_flatbuffer_command_on_a_read_only_models_folder_says_so_without_a_traceback(registered, monkeypatch,
                                                                                         capsys):
    """Test that `flatbuffer` where the flatbuffer cannot be written (a read-only disk) names the model and why,
    and exits 1, instead of a traceback."""
    import digitlab.store.flatbuffers
    from digitlab.cli.parser import main

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(digitlab.store.flatbuffers, "write_atomic", read_only)
    assert main(["flatbuffer", str(registered)]) == 1
    error = capsys.readouterr().err
    assert f"{registered}: its flatbuffer could not be written (Read-only file system)" in error
