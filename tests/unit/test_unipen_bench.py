"""The UNIPEN benchmark rows: per held-out institution, styled held-out digits, held-out letters refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from digitlab.datasets.unipen import HELD_OUT_INSTITUTIONS, unipen_digits, unipen_letters
from tests.helpers.unipen_sample import SHARED_UNIPEN, write_small_unipen
from tests.refusal_models import register_with_not_a_digit

pytestmark = pytest.mark.skipif(not SHARED_UNIPEN.is_file(), reason=f"{SHARED_UNIPEN} is not present")


@pytest.fixture(scope="module")
def small_unipen(tmp_path_factory) -> Path:
    return write_small_unipen(tmp_path_factory.mktemp("unipen") / "small.tar.gz")


@pytest.fixture(scope="module")
def predictors(small_run, tmp_path_factory):
    """A model that refuses every drawing and one that refuses none, both served as the app serves them."""
    from digitlab.serving.predictor import load_serving_predictor

    directory = tmp_path_factory.mktemp("refusers")
    return {name: load_serving_predictor(register_with_not_a_digit(small_run, directory, name, bias))
            for name, bias in (("refuses-all", 50.0), ("refuses-none", -50.0))}


def test_rows_cover_each_held_out_institution_and_count_refused_digits_as_wrong(small_unipen, predictors):
    """Test that each held-out institution has its row (checked and unchecked apart) and a refusal is wrong."""
    from digitlab.bench.unipen import held_out_institutions

    report = held_out_institutions(predictors["refuses-all"], small_unipen)
    digits = unipen_digits(small_unipen, held_out=True)
    expected = Counter(d.institution + ("" if d.quality == "OK" else " (unchecked)") for d in digits)
    assert {name: row["n"] for name, row in report["per_institution"].items()} == dict(expected)
    assert {name.split()[0] for name in report["per_institution"]} <= HELD_OUT_INSTITUTIONS
    assert all(row["accuracy"] == 0 and row["refused"] == row["n"] for row in report["per_institution"].values())
    assert report["checked_digits"] == sum(d.quality == "OK" for d in digits) and report["checked_accuracy"] == 0
    # Refusing everything, every writer misreads every digit: the worst writers are the most prolific.
    for row in report["per_institution"].values():
        assert row["writers_with_errors"] == row["writers"]
        assert [writer["wrong"] for writer in row["most_wrong_writers"]] == [
            writer["digits"] for writer in row["most_wrong_writers"]]
        assert sum(writer["wrong"] for writer in row["most_wrong_writers"]) <= row["n"]
    reads_all = held_out_institutions(predictors["refuses-none"], small_unipen)
    assert all(len(row["most_wrong_writers"]) == min(3, row["writers_with_errors"])
               for row in reads_all["per_institution"].values())


def test_styled_rows_and_letters_follow_what_the_model_answers(small_unipen, predictors):
    """Test that styled digits and letters are scored from the model's answers: all refused, or none."""
    from digitlab.bench.unipen import held_out_letters_refused, styled_held_out_digits

    styled = styled_held_out_digits(predictors["refuses-all"], small_unipen, pen_digits=None)
    assert set(styled) == {"slashed zero", "barred seven", "footed one"}
    assert all(row["n"] > 0 and row["accuracy"] == 0 for row in styled.values())
    letters = unipen_letters(small_unipen, held_out=True)
    everything = held_out_letters_refused(predictors["refuses-all"], small_unipen)
    nothing = held_out_letters_refused(predictors["refuses-none"], small_unipen)
    assert everything["checked"]["n"] + everything["unchecked"]["n"] == len(letters)
    assert everything["checked"]["refused"] == 1.0 and nothing["checked"]["refused"] == 0.0
    assert set(everything["checked"]["per_letter"]) <= set("EFHKMNRWXfkmwx")
