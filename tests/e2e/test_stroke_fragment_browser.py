"""A stroke reruns only the drawing area (a fragment): not app.py, not the sidebar and its model list."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import running_app
from tests.e2e.drawing import FOUR, ONE, draw, expect_prediction, open_draw_page

# Loaded by the served app's Python at start-up (it is on PYTHONPATH): appends a line to a file each
# time the sidebar asks for the model list, which it does on every whole-app run.
COUNTING_SITECUSTOMIZE = """
import os
import digitlab.store.registry as registry

_list_models = registry.list_models

def list_models(*args, **kwargs):
    with open(os.environ["DIGITLAB_TEST_LIST_LOG"], "a") as log:
        log.write("listed\\n")
    return _list_models(*args, **kwargs)

registry.list_models = list_models
"""


@pytest.fixture(scope="module")
def counted_app(e2e_dirs, tmp_path_factory):
    """The app served with its model-list reads counted; yields (url, function giving the count)."""
    folder = tmp_path_factory.mktemp("counting")
    (folder / "sitecustomize.py").write_text(COUNTING_SITECUSTOMIZE)
    log = folder / "list_models.log"
    log.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", f"{folder}:{Path(__file__).resolve().parents[2]}")
        patch.setenv("DIGITLAB_TEST_LIST_LOG", str(log))
        with running_app(e2e_dirs) as url:
            yield url, lambda: len(log.read_text().splitlines())


def test_strokes_rerun_only_the_drawing_area(page, counted_app):
    """Test that strokes are answered without rerunning the app script, so the model list is not read again."""
    url, model_list_reads = counted_app
    open_draw_page(page, url)
    reads_before = model_list_reads()
    assert reads_before >= 1  # the page load ran the whole app once

    draw(page, ONE)
    expect_prediction(page, "1")
    draw(page, FOUR)  # two more strokes on top: each answered by the fragment alone
    page.locator(".digitlab-probability-chart .main-svg").first.wait_for()
    page.wait_for_timeout(1000)  # a whole-app run, had one started, would have read the list by now

    assert model_list_reads() == reads_before


def test_a_whole_app_rerun_is_counted(page, counted_app):
    """Test that the count above does rise on a whole-app run (picking a tab), so the check can fail."""
    url, model_list_reads = counted_app
    open_draw_page(page, url)
    reads_before = model_list_reads()
    page.get_by_role("radio", name="Upload", exact=True).click()
    page.get_by_text("Upload a PNG or JPEG").wait_for()
    page.wait_for_timeout(500)
    assert model_list_reads() > reads_before
