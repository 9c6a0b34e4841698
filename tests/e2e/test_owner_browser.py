"""Owner and visitors in Chromium: on a deployment with an owner password, only the owner changes the default."""

from __future__ import annotations

import json
import shutil

from playwright.sync_api import Page, expect

from digitlab.config.access import hash_password
from digitlab.store.registry import register_model
from tests.e2e.conftest import running_app, wait_for_app_idle

PASSWORD = "teacher's secret"


def choose_model(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=name).click()
    wait_for_app_idle(page)


def test_only_the_signed_in_owner_can_make_a_model_the_default_for_everyone(page: Page, tmp_path, small_models_dir):
    """Test that a visitor can pick a model for their own tab only, and after the owner password the same
    browser can make it the default for everyone."""
    models = shutil.copytree(small_models_dir, tmp_path / "models")
    register_model(models / "default.keras", "second", {"architecture": "cnn-small"}, models)
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password(PASSWORD, iterations=1000)}
    with running_app({"models": models, "runs": tmp_path / "runs"}, env) as url:
        page.goto(url)
        wait_for_app_idle(page)
        sidebar = page.get_by_test_id("stSidebar")
        choose_model(page, "second")
        expect(sidebar.get_by_text("second · cnn-small")).to_be_visible()
        expect(sidebar.get_by_role("button", name="Make this the default for everyone")).to_have_count(0)
        wait_for_app_idle(page)  # the model switch's run has ended: a submit made during it could be lost (CI saw one)

        sidebar.get_by_text("Owner sign-in").click()
        sidebar.get_by_label("Owner password").fill("wrong guess")
        sidebar.get_by_role("button", name="Sign in as owner").click()
        expect(sidebar.get_by_text("That is not the owner's password.")).to_be_visible(timeout=15_000)
        sidebar.get_by_label("Owner password").fill(PASSWORD)
        sidebar.get_by_role("button", name="Sign in as owner").click()
        expect(sidebar.get_by_text("Signed in as the owner.")).to_be_visible(timeout=15_000)

        sidebar.get_by_role("button", name="Make this the default for everyone").click()
        expect(sidebar.get_by_text("second is now the default model for everyone.")).to_be_visible(timeout=15_000)
        assert json.loads((models / "active.json").read_text())["name"] == "second"
