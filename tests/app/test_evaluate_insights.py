"""The Evaluate page's calibration, hardest images and test-set map, in AppTest with the small model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digitlab.evaluation.calibration import expected_calibration_error, hardest_examples

PAGE = Path(__file__).resolve().parents[2] / "pages" / "evaluate.py"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def evaluate_page(entry, map_open: bool = False) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["selected_model"] = entry
    if map_open:
        at.session_state["evaluate_map_panel"] = True
    return at.run()


def test_calibration_and_hardest_images_are_shown(model_entry, mnist):
    """Test that the page states the model's ECE and shows its highest-loss test images first."""
    from digitlab.evaluation.metrics import evaluate_model
    from digitlab.serving.predictor import Predictor

    at = evaluate_page(model_entry)
    assert not at.exception
    evaluation = evaluate_model(Predictor.from_file(model_entry.path, model_entry.sha256), mnist)
    ece = expected_calibration_error(evaluation.probabilities, evaluation.labels)
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown["Expected calibration error"] == f"{ece:.2%}"
    hardest = hardest_examples(evaluation.probabilities, evaluation.labels, 1)[0]
    captions = [caption for image in at.image for caption in image.captions]
    first = f"{evaluation.labels[hardest]} → {evaluation.predictions[hardest]} · "
    assert any(caption.startswith(first) for caption in captions)


def test_opening_the_map_lays_out_the_test_set_once(model_entry, monkeypatch, private_cache):
    """Test that the map shows every digit and the mistakes, and is kept on disk for the next visit."""
    import digitlab.evaluation.embedding_map

    monkeypatch.setattr(digitlab.evaluation.embedding_map, "MAP_POINTS", 600)  # t-SNE of 3,000 points is too slow for a test
    at = evaluate_page(model_entry, map_open=True)
    assert not at.exception
    panel = next(expander for expander in at.expander if expander.label.startswith("Map of the test set"))
    charts = panel.get("plotly_chart")
    assert len(charts) == 1
    figure = json.loads(charts[0].proto.spec)
    names = [trace.get("name") for trace in figure["data"]]
    assert names == [str(digit) for digit in range(10)] + ["mistake"]
    assert sum(len(trace["hovertext"]) for trace in figure["data"][:10]) >= 600  # one hover picture a point
    assert "░" in figure["data"][0]["hovertext"][0] or "█" in figure["data"][0]["hovertext"][0]
    assert list(private_cache.glob("*.test-map.v1.npz"))

    def refuse(*args, **kwargs):
        raise AssertionError("the stored map should have been read")

    monkeypatch.setattr(digitlab.evaluation.embedding_map, "layout", refuse)
    assert not evaluate_page(model_entry, map_open=True).exception


def test_selected_map_points_are_read_as_test_indices():
    """Test that box-selected points map back to their test images through each trace's customdata."""
    import plotly.graph_objects as go

    from digitlab.ui.evaluate_insights import selected_test_indices

    figure = go.Figure([go.Scattergl(x=[0, 1], y=[0, 1], customdata=[7, 3]),
                        go.Scattergl(x=[2], y=[2], customdata=[3])])
    state = {"selection": {"points": [{"curve_number": 0, "point_index": 1}, {"curve_number": 1, "point_index": 0},
                                      {"curve_number": 0, "point_index": 0}]}}
    assert list(selected_test_indices(state, figure)) == [3, 7]
    assert selected_test_indices({}, figure).size == 0
