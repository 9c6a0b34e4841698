"""The Evaluate page in AppTest, with the small trained model on the real MNIST test set.

AppTest cannot click a point of a Plotly chart (it has no widget for one, and the chart's selection
state cannot be written through session_state), so here the gallery filter is driven through its two
select boxes, which a click on a confusion-matrix cell sets; the click itself is tested in the browser
(tests/e2e/test_evaluate_browser.py), and the parsing of the selection Streamlit reports is tested below
with a payload recorded from a real click.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.ui import evaluate_mistakes, evaluate_view

PAGE = Path(__file__).resolve().parents[2] / "pages" / "evaluate.py"
CAPTION_PATTERN = re.compile(r"^(\d) → (\d) · (\d+\.\d\d)%$")  # true → predicted · confidence


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Evaluations are cached in this test's own folder, never in the user's home."""
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def expected(small_models_dir, mnist):
    """The small model's evaluation, computed here without the page."""
    from digitlab.evaluation.metrics import evaluate_model
    from digitlab.serving.predictor import Predictor
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(small_models_dir / "default.keras")
    return evaluate_model(Predictor.from_file(entry.path, entry.sha256), mnist)


def evaluate_page(entry) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["selected_model"] = entry
    return at.run()


def confusion_spec(at: AppTest) -> dict:
    """The Plotly figure of the confusion matrix as sent to the browser."""
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    [spec] = [spec for spec in charts if spec["data"][0]["type"] == "heatmap"]
    return spec


def plotly_array(value) -> np.ndarray:
    """A data array of a Plotly JSON spec: a plain list, or Plotly's base64 typed-array encoding."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(size) for size in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), np.dtype(value["dtype"])).reshape(shape)
    return np.array(value, dtype=float)


def gallery_captions(at: AppTest) -> list[str]:
    """Captions of the mistakes and comparison galleries (not the hardest images, captioned with a loss)."""
    return [caption for image in at.image for caption in image.captions
            if CAPTION_PATTERN.match(caption) or " · A " in caption]


def matching_count(at: AppTest) -> int:
    [count] = [re.search(r"\*\*([\d,]+)\*\* misclassified", c.value) for c in at.caption if "misclassified" in c.value]
    return int(count.group(1).replace(",", ""))


def test_page_shows_accuracy_per_class_table_matrix_and_mistakes(model_entry, expected):
    """Test that the page shows the model's accuracy, error count, metrics table, confusion matrix and gallery."""
    at = evaluate_page(model_entry)

    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Accuracy"] == f"{expected.accuracy:.2%}"
    assert metrics["Errors"] == f"{expected.errors:,} of 10,000"

    table = at.dataframe[0].value
    assert table["Digit"].tolist() == [*map(str, range(10)), "Macro average"]
    # The grid sizes a column for its first rows: "Macro average" was cut to "Macro av" on a phone. Source Sans at
    # the table's 14 px is at most 7 px a character, and a cell pads its text by 8 px a side.
    digit_column = json.loads(at.dataframe[0].proto.columns)["Digit"]
    assert digit_column["width"] >= len("Macro average") * 7 + 16 and digit_column["pinned"] is True
    assert table["Support"].tolist()[:10] == [row["support"] for row in expected.per_class]
    assert table["Recall"].iloc[-1] == pytest.approx(100 * expected.macro["recall"]), "shares shown as 97.23%"
    assert metrics["Macro F1"] == f"{expected.macro['f1']:.2%}", "one format for every share on the page"

    spec = confusion_spec(at)
    heatmap = plotly_array(spec["data"][0]["z"])
    assert np.isnan(np.diag(heatmap)).all(), "the diagonal should be masked out of the colour scale"
    off_diagonal = ~np.eye(10, dtype=bool)
    assert (heatmap[off_diagonal] == expected.confusion[off_diagonal]).all()
    cell_labels = {(a["y"], a["x"]): a for a in spec["layout"]["annotations"]}
    assert cell_labels[(3, 3)]["text"] == f"{expected.confusion[3, 3]:,}"  # right answers still counted, in grey
    assert cell_labels[(3, 3)]["font"]["color"] == "#9e9e9e"

    captions = gallery_captions(at)
    assert matching_count(at) == expected.errors
    assert len(captions) == min(24, expected.errors)
    confidences = [float(CAPTION_PATTERN.match(caption).group(3)) for caption in captions]
    assert all(CAPTION_PATTERN.match(caption).group(1) != CAPTION_PATTERN.match(caption).group(2) for caption in captions)
    assert confidences == sorted(confidences, reverse=True), "most confident mistakes first"
    assert len(at.get("plotly_chart")) == 3  # the matrix, the confidence histograms, the reliability diagram


def test_choosing_a_cell_filters_the_gallery_to_that_confusion(model_entry, expected):
    """Test that picking true and predicted digits (what a cell click sets) shows only those mistakes."""
    mistakes = np.where(np.eye(10, dtype=bool), 0, expected.confusion)
    true_digit, predicted_digit = np.unravel_index(mistakes.argmax(), mistakes.shape)
    at = evaluate_page(model_entry)

    at.selectbox(key=evaluate_mistakes.TRUE_DIGIT_KEY).set_value(int(true_digit))
    at.selectbox(key=evaluate_mistakes.PREDICTED_DIGIT_KEY).set_value(int(predicted_digit)).run()

    assert not at.exception
    assert matching_count(at) == expected.confusion[true_digit, predicted_digit]
    captions = gallery_captions(at)
    assert captions and all(caption.startswith(f"{true_digit} → {predicted_digit} ·") for caption in captions)
    [highlight] = confusion_spec(at)["layout"]["shapes"]
    assert (highlight["x0"], highlight["y0"]) == (predicted_digit - 0.5, true_digit - 0.5)


def test_rates_toggle_shows_each_cell_as_a_share_of_its_true_digit(model_entry, expected):
    """Test that the rates toggle labels cells with the share of their row instead of counts."""
    at = evaluate_page(model_entry)
    at.toggle(key=evaluate_mistakes.ROW_RATES_KEY).set_value(True).run()

    cell_labels = {(a["y"], a["x"]): a["text"] for a in confusion_spec(at)["layout"]["annotations"]}
    assert cell_labels[(7, 7)] == f"{expected.confusion[7, 7] / expected.confusion[7].sum():.2%}"


def test_selected_cell_reads_the_point_streamlit_reports_for_a_click():
    """Test that a click on the 8 → 5 cell, as Streamlit reported it from Chromium, means true 8, predicted 5."""
    recorded = {"selection": {"points": [{"curve_number": 1, "point_number": 77, "point_index": 77, "x": 5, "y": 8,
                                          "hovertext": "true 8 → predicted 5<br>136 image(s)"}],
                              "point_indices": [77], "box": [], "lasso": []}}

    assert evaluate_mistakes.selected_cell(recorded) == (8, 5)
    assert evaluate_mistakes.selected_cell({"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) is None
    assert evaluate_mistakes.selected_cell(None) is None


def test_comparing_with_another_model_shows_both_accuracies_and_their_disagreements(model_entry, models_dir, expected):
    """Test that choosing a second model shows both accuracies and the test images they answer differently."""
    import keras

    from digitlab.store.registry import register_model

    model = keras.models.load_model(model_entry.path, safe_mode=True, compile=False)
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([kernel, bias + np.eye(10, dtype=np.float32)[3] * 4])  # a model that loves 3s
    model.save(models_dir.parent / "leaning.keras")
    register_model(models_dir.parent / "leaning.keras", "leaning", {"architecture": "cnn-small"}, models_dir)
    at = evaluate_page(model_entry)

    at.selectbox(key=evaluate_view.COMPARE_MODEL_KEY).set_value("leaning").run()

    assert not at.exception
    metrics = {metric.label: metric for metric in at.metric}
    assert metrics["A: default"].value == f"{expected.accuracy:.2%}"
    assert "B: leaning" in metrics
    disagreeing = int(metrics["Test images they disagree on"].value.replace(",", ""))
    assert disagreeing > 0
    comparison_captions = [c for c in gallery_captions(at) if " · A " in c]
    assert len(comparison_captions) == min(24, disagreeing)
    assert all(re.fullmatch(r"\d · A \d · B \d", caption) for caption in comparison_captions)
    assert any(caption.endswith("B 3") for caption in comparison_captions)
    changes = at.dataframe[-1].value  # per digit: recall under A and B
    assert changes["Digit"].tolist() == list(map(str, range(10)))
    assert changes.loc[changes["Digit"] == "3", "Change"].item() > 0, "the 3-loving model recalls more 3s"


def test_only_one_model_says_how_to_get_a_second(model_entry):
    """Test that with a single model the comparison explains how to get another instead of an empty box."""
    at = evaluate_page(model_entry)

    assert evaluate_view.COMPARE_MODEL_KEY not in [box.key for box in at.selectbox]
    assert any("no other model to compare with" in caption.value for caption in at.caption)


def test_missing_mnist_shows_how_to_provide_it(model_entry, monkeypatch, tmp_path):
    """Test that without MNIST the page explains how to provide the file instead of crashing."""
    monkeypatch.setenv("DIGITLAB_MNIST", str(tmp_path / "nowhere" / "mnist.npz"))
    monkeypatch.setenv("HOME", str(tmp_path))

    at = evaluate_page(model_entry)

    assert not at.exception
    [error] = at.error
    assert "could not be loaded" in error.value
    assert "nowhere/mnist.npz" in error.value and "DIGITLAB_MNIST" in error.value
    assert not at.metric and not at.get("plotly_chart")


def test_rates_colour_bar_has_distinct_ticks_and_a_diagonal_click_explains_itself(model_entry, expected):
    """Test that in rates mode the colour bar's tick labels all differ, and choosing a diagonal cell says it
    holds the right answers and how many."""
    at = evaluate_page(model_entry)
    at.toggle(key=evaluate_mistakes.ROW_RATES_KEY).set_value(True).run()

    colour_bar = confusion_spec(at)["data"][0]["colorbar"]
    assert len(colour_bar["ticktext"]) >= 2 and len(set(colour_bar["ticktext"])) == len(colour_bar["ticktext"])

    at.selectbox(key=evaluate_mistakes.TRUE_DIGIT_KEY).set_value(4)
    at.selectbox(key=evaluate_mistakes.PREDICTED_DIGIT_KEY).set_value(4).run()
    right = int(expected.confusion[4, 4])
    assert f"{right:,} of the {int(expected.confusion[4].sum()):,} 4s were read as 4" in at.info[0].value


def test_a_mistake_can_be_looked_at_closer_with_all_ten_probabilities(model_entry, expected):
    """Test that choosing one misclassified image shows it with the model's probability bar for every digit."""
    at = evaluate_page(model_entry)
    options = at.selectbox(key=evaluate_mistakes.CLOSER_LOOK_KEY).options
    assert options, "the mistakes can be looked at one by one"
    at.selectbox(key=evaluate_mistakes.CLOSER_LOOK_KEY).select_index(0).run()

    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    bars = [chart for chart in charts if chart["data"] and chart["data"][0].get("type") == "bar"
            and str(chart["data"][0].get("hovertemplate", "")).startswith("digit ")]  # the probability chart
    assert len(bars) == 1 and plotly_array(bars[0]["data"][0]["y"]).shape == (10,)
    assert any(button.label == "Open it on the Draw page" for button in at.button)


def test_a_run_left_in_the_repositorys_runs_folder_does_not_reach_the_tests(model_entry, small_run):
    """Test that a finished run the app made in the repository's runs/ (as using it does) is not seen by tests.

    The suite must pass after the app has been used: this run would otherwise be offered as a second model.
    """
    from tests.conftest import REPO_ROOT
    from tests.run_fixtures import make_run

    users_runs = REPO_ROOT / "runs"
    created_root = not users_runs.exists()
    run_dir = make_run(users_runs, "made-by-the-app-test-isolation", "done", model_from=small_run)
    try:
        at = evaluate_page(model_entry)
        assert evaluate_view.COMPARE_MODEL_KEY not in [box.key for box in at.selectbox]
        assert any("no other model to compare with" in caption.value for caption in at.caption)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        if created_root:
            shutil.rmtree(users_runs, ignore_errors=True)
