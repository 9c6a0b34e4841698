"""One model, one accuracy: the figure the model lists show is the one Evaluate and `evaluate` measure."""

from __future__ import annotations


def test_a_runs_recorded_accuracy_is_its_served_models_as_evaluate_measures_it(small_run, mnist):
    """Test that the MNIST test accuracy a finished run records (shown in the sidebar, `models` and the runs table)
    is that of the LiteRT flatbuffer the app reads with, as Evaluate measures it, not its float weights'."""
    from digitlab.evaluation.metrics import evaluate_model
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import entry_for_path
    from digitlab.store.shares import percent

    entry = entry_for_path(small_run / "model.keras")
    predictor = load_serving_predictor(entry)
    assert predictor.serving.from_flatbuffer, "the run is served from its flatbuffer"
    measured = evaluate_model(predictor, mnist, model_sha256=entry.sha256)

    assert entry.test_accuracy == measured.accuracy
    assert f"{percent(measured.accuracy)})" in entry.label


def test_every_share_is_written_the_same_way():
    """Test that a share is written with two decimals by the one formatter, and an unknown one as a dash."""
    from digitlab.store.shares import percent
    from digitlab.ui.formatting import percent as page_percent

    assert percent(0.9603) == page_percent(0.9603) == "96.03%"
    assert percent(None) == "–" and percent(1) == "100.00%"
