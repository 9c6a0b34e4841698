"""One shared server, two people: a visitor's page offers none of the owner's controls, the owner's does."""

from __future__ import annotations

import shutil

from playwright.sync_api import Page, expect

from digitlab.config.access import BROWSER_COOKIE_NAME, browser_secret, hash_password
from digitlab.store.run_config import TrainConfig
from digitlab.training.visitors import browser_token, visitor_token
from tests.e2e.conftest import running_app, select_runs_table_row, sign_in_as_owner, wait_for_app_idle
from tests.run_fixtures import fake_trainer, make_run

PASSWORD = "teacher's secret"
OWNER_ONLY_BUTTONS = ("Stop", "Force stop", "Promote to models/", "Make this the default for everyone")


def buttons_named(page: Page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def test_a_visitor_gets_no_stop_delete_or_promote_and_the_owner_does(browser, tmp_path, small_models_dir, small_run):
    """Test that on a deployment with an owner password, a visitor's Train page offers no Stop for someone
    else's run and no Promote or Delete, while the owner, signed in in another browser, gets them all."""
    models = shutil.copytree(small_models_dir, tmp_path / "models")
    runs = tmp_path / "runs"
    make_run(runs, "20260101-110000-cnn-small", "done", model_from=small_run, started_by="visitor:someone-else",
             config=TrainConfig(arch="cnn-small", epochs=3, title="finished run"))
    trainer = fake_trainer(holding_lock_for=runs / "20260101-120000-cnn-small")
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password(PASSWORD, iterations=1000)}
    try:
        make_run(runs, "20260101-120000-cnn-small", "running", pid=trainer.pid, started_by="visitor:someone-else",
                 config=TrainConfig(arch="cnn-small", epochs=3, title="someone's run"))
        with running_app({"models": models, "runs": runs}, env) as url:
            visitor = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
            owner = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
            for page in (visitor, owner):
                page.goto(f"{url}/train")
                wait_for_app_idle(page)
                expect(page.get_by_role("heading", name="Run someone's run")).to_be_visible(timeout=30_000)

            sign_in_as_owner(owner, PASSWORD)

            expect(buttons_named(owner, "Stop")).to_have_count(1, timeout=15_000)
            expect(buttons_named(visitor, "Stop")).to_have_count(0)
            expect(visitor.get_by_text("Only the visitor who started this run, or the owner, can stop it")
                   ).to_be_visible()

            for page in (visitor, owner):
                select_runs_table_row(page, 1)  # the finished run, older
                expect(page.get_by_role("button", name="Read with it in this tab")).to_be_visible(timeout=15_000)
            expect(buttons_named(owner, "Promote to models/")).to_have_count(1)
            expect(owner.get_by_role("button", name="Delete 1 run")).to_have_count(1)
            for name in OWNER_ONLY_BUTTONS:
                expect(buttons_named(visitor, name)).to_have_count(0)
            expect(visitor.get_by_role("button", name="Delete 1 run")).to_have_count(0)
            expect(visitor.get_by_text("Promoting a model into models/ for everyone is for the owner.")).to_be_visible()
    finally:
        trainer.kill()
        trainer.wait()


def test_classmates_behind_one_address_each_stop_only_the_run_their_own_browser_started(browser, tmp_path,
                                                                                          small_models_dir):
    """Test that two browsers a school's router shows as one address (one X-Forwarded-For through a proxy on
    the server's machine) are told apart: the run one of them started offers Stop in that browser, after a
    reload too, and not in the classmate's, whose page says it is someone else's."""
    models = shutil.copytree(small_models_dir, tmp_path / "models")
    runs = tmp_path / "runs"
    school = {"X-Forwarded-For": "203.0.113.9"}
    trainer = fake_trainer(holding_lock_for=runs / "20260101-120000-cnn-small")
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password(PASSWORD, iterations=1000)}
    try:
        with running_app({"models": models, "runs": runs}, env) as url:
            ann, bob = (browser.new_context(viewport={"width": 1280, "height": 1400}, extra_http_headers=school)
                        for _ in range(2))
            pages = {name: context.new_page() for name, context in (("ann", ann), ("bob", bob))}
            for page in pages.values():
                page.goto(f"{url}/train")
                wait_for_app_idle(page)
            cookie = next(c["value"] for c in ann.cookies() if c["name"] == BROWSER_COOKIE_NAME)
            make_run(runs, "20260101-120000-cnn-small", "running", pid=trainer.pid,
                     started_by=visitor_token("ip:203.0.113.9", runs),
                     started_in=browser_token(browser_secret(cookie), runs),
                     config=TrainConfig(arch="cnn-small", epochs=3, title="ann's run"))

            for page in pages.values():
                page.reload()
                wait_for_app_idle(page)
                expect(page.get_by_role("heading", name="Run ann's run")).to_be_visible(timeout=30_000)
            expect(buttons_named(pages["ann"], "Stop")).to_have_count(1, timeout=15_000)
            expect(buttons_named(pages["bob"], "Stop")).to_have_count(0)
            expect(pages["bob"].get_by_text("Only the visitor who started this run, or the owner, can stop it")
                   ).to_be_visible()

            buttons_named(pages["ann"], "Stop").click()
            expect(pages["ann"].get_by_text("Stop requested")).to_be_visible(timeout=15_000)
            assert (runs / "20260101-120000-cnn-small" / "STOP").exists()
    finally:
        trainer.kill()
        trainer.wait()
