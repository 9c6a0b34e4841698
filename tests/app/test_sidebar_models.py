"""The sidebar's model list in AppTest: runs by the name given to them, told apart by when they started."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from digitlab.store.run_config import TrainConfig
from tests.run_fixtures import make_run


def sidebar_script() -> None:
    from digitlab.ui.sidebar import model_sidebar

    model_sidebar()


def test_the_sidebar_lists_runs_by_given_name_and_start(models_dir, runs_dir, small_run):
    """Test that the Model list shows a run as 'quick-1 (run <start>, <architecture>, <accuracy>)', two runs with
    the same settings and name differently, and choosing one picks that run's model."""
    settings = dict(arch="cnn-small", epochs=3, limit=8000, augment=False, seed=1)
    for folder, title in (("20260101-120000-cnn-small", "quick-1"), ("20260101-130000-cnn-small", "same"),
                          ("20260101-140000-cnn-small", "same")):
        make_run(runs_dir, folder, "done", model_from=small_run, config=TrainConfig(**settings, title=title),
                 test_accuracy=0.9602)
    at = AppTest.from_function(sidebar_script, default_timeout=60).run()
    assert not at.exception, [exception.value for exception in at.exception]

    picker = at.sidebar.selectbox(key="model_name")
    options = list(picker.options)
    assert "quick-1 (run 20260101-120000, cnn-small, 96.02%)" in options
    assert "same (run 20260101-130000, cnn-small, 96.02%)" in options
    assert "same (run 20260101-140000, cnn-small, 96.02%)" in options
    assert options[0].startswith("default (") and "· default" not in options[0]  # its name says it, once

    picker.set_value("run:20260101-120000-cnn-small").run()
    assert at.session_state["model_name"] == "run:20260101-120000-cnn-small"
    # Under the list, the chosen run by the name `--model` takes: its given name, where that names it alone.
    assert any(caption.value.startswith("quick-1 · cnn-small") for caption in at.sidebar.caption)
    picker.set_value("run:20260101-130000-cnn-small").run()
    assert any(caption.value.startswith("run:20260101-130000-cnn-small · ") for caption in at.sidebar.caption)


def test_the_model_everyone_gets_is_marked_default_when_another_model_is_named_default(models_dir, runs_dir):
    """Test that after another model is made the default for everyone, it is the one marked "· default"."""
    import shutil

    from digitlab.store.registry import register_model, set_active_model

    shutil.copy(models_dir / "default.keras", models_dir.parent / "tuned.keras")
    register_model(models_dir.parent / "tuned.keras", "tuned", {"architecture": "cnn-small"}, models_dir)
    set_active_model("tuned", models_dir)
    at = AppTest.from_function(sidebar_script, default_timeout=60).run()
    assert not at.exception, [exception.value for exception in at.exception]
    options = list(at.sidebar.selectbox(key="model_name").options)
    assert [option for option in options if option.endswith(" · default")] == [
        next(option for option in options if option.startswith("tuned ("))]
