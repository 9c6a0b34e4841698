"""A lesson in the browser: the teacher makes a class, three students (one on a touch phone) join by its link, draw
and correct digits, and the teacher's Class page follows along."""

from __future__ import annotations

import re
import shutil
import time

from playwright.sync_api import Page, expect

from digitlab.config.access import hash_password
from digitlab.ui.formatting import counted
from tests.e2e.conftest import REPO_ROOT, running_app, sign_in_as_owner, wait_for_app_idle
from tests.e2e.drawing import FOUR, ONE, RESULT_TIMEOUT, ZERO, canvas_area, clear_canvas, draw
from tests.e2e.test_phone_browser import PHONE, touch_draw

PASSWORD = "teacher's secret"
LIVE_TIMEOUT = 30_000  # ms: the Class page refreshes every few seconds


class Student:
    """One student's browser: draws, reads the model's answer, and answers Right or Wrong."""

    def __init__(self, page: Page, touch: bool):
        self.page, self.touch = page, touch
        self.answers: list[tuple[int, int]] = []  # (label, reading) as stored

    def join(self, link: str) -> None:
        self.page.goto(link)
        wait_for_app_idle(self.page)
        expect(self.page.get_by_text("You are in the class Lesson 1")).to_be_visible(timeout=RESULT_TIMEOUT)

    def draw(self, strokes) -> int:
        """Draw on a fresh canvas; the digit the model read."""
        if self.answers:
            clear_canvas(self.page)
        # Below the class's bar on a phone: scrolled to the middle of the screen, as a person would, since scrolling it
        # just into view can leave its top under Streamlit's fixed header (after Clear, which stands right under it).
        canvas_area(self.page).evaluate("canvas => canvas.scrollIntoView({block: 'center'})")
        (touch_draw if self.touch else draw)(self.page, strokes)
        value = self.page.get_by_test_id("stMetricValue")
        expect(value).to_have_text(re.compile(r"^[0-9]$"), timeout=RESULT_TIMEOUT)
        # Each stroke is read as it lands: wait until the last one's reading has stopped changing.
        seen = None
        while seen != value.inner_text():
            seen = value.inner_text()
            self.page.wait_for_timeout(1500)
            wait_for_app_idle(self.page)
        return int(seen)

    def answer(self, reading: int, label: int | None = None, again: bool = False) -> None:
        """Right (label None) or "wrong, it's a <label>"; again: a second answer for the same drawing (a relabel)."""
        key = "bank_right" if label is None else f"bank_label_{label}"
        button = self.page.locator(f".st-key-{key} button:visible").first  # narrow screens keep a hidden copy
        button.tap() if self.touch else button.click()
        label = reading if label is None else label
        verdict = "right" if label == reading else f"a {label}, read as {reading}"
        expect(self.page.get_by_text(re.compile(rf"Stored in the drawing bank as drawing #\d+ \({verdict}\)"))
               ).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(self.page)
        if again:
            self.answers[-1] = (label, reading)
        else:
            self.answers.append((label, reading))

    def correct_to_a_wrong_digit(self, strokes, wrong_label: int) -> None:
        """Draw, and say it is wrong_label (or another digit, should the model read exactly that)."""
        reading = self.draw(strokes)
        self.answer(reading, wrong_label if reading != wrong_label else (wrong_label + 1) % 10)


def metric(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def confusion_cells(page: Page) -> list[str]:
    """The matrix's 100 cell labels, row by row (true digit), as the chart shows them."""
    return page.locator(".js-plotly-plot .annotation-text").all_text_contents()


def expected_cells(answers: list[tuple[int, int]]) -> list[str]:
    counts = [[0] * 10 for _ in range(10)]
    for label, reading in answers:
        counts[label][reading] += 1
    return [str(counts[label][reading]) for label in range(10) for reading in range(10)]


def test_three_students_draw_in_a_class_and_the_teacher_s_page_follows(browser, tmp_path):
    """Test that students joining by link (two with the mouse, one with a finger) store their answers in the class,
    that each sees their own count, and that the teacher's page, without reloading, shows the right counts,
    confusion matrix and hardest digits for what was drawn."""
    models = shutil.copytree(REPO_ROOT / "models", tmp_path / "models")
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password(PASSWORD, iterations=1000),
           "DIGITLAB_DATABASE_URL": f"sqlite:///{tmp_path / 'drawings.sqlite'}"}
    with running_app({"models": models, "runs": tmp_path / "runs"}, env) as url:
        teacher = browser.new_context(viewport={"width": 1280, "height": 2400}).new_page()
        teacher.goto(f"{url}/class")
        wait_for_app_idle(teacher)
        expect(teacher.get_by_text("for the teacher who owns this deployment")).to_be_visible(timeout=RESULT_TIMEOUT)
        sign_in_as_owner(teacher, PASSWORD)
        teacher.get_by_text("Make a class", exact=True).click()
        teacher.get_by_label("Class name").fill("Lesson 1")
        teacher.get_by_role("button", name="Make the class and its link").click()
        link = teacher.get_by_test_id("stCode")
        expect(link).to_contain_text("?class=", timeout=RESULT_TIMEOUT)
        link = link.inner_text().strip()
        expect(metric(teacher, "Drawings")).to_have_text("0")

        contexts = [browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True),
                    browser.new_context(viewport={"width": 1280, "height": 1000}),
                    browser.new_context(viewport={"width": 1280, "height": 1000})]
        phone, first_mouse, second_mouse = students = [Student(context.new_page(), touch=index == 0)
                                                       for index, context in enumerate(contexts)]
        for student in students:
            student.join(link)

        phone.answer(phone.draw(ZERO))  # "Right"
        expect(metric(teacher, "Drawings")).to_have_text("1", timeout=LIVE_TIMEOUT)  # live, no reload
        phone.correct_to_a_wrong_digit(ONE, 7)

        first_mouse.page.get_by_role("button", name="Nickname").click()
        first_mouse.page.get_by_role("textbox", name="Nickname (optional)").fill("Ben")
        first_mouse.page.get_by_role("textbox", name="Nickname (optional)").press("Enter")
        wait_for_app_idle(first_mouse.page)
        first_mouse.page.keyboard.press("Escape")
        reading = first_mouse.draw(FOUR)
        first_mouse.answer(reading, None if reading == 4 else 4)
        first_mouse.answer(first_mouse.draw(ONE))

        reading = second_mouse.draw(ONE)
        second_mouse.answer(reading)  # "Right" at first...
        second_mouse.answer(reading, 7 if reading != 7 else 2, again=True)  # ...then corrected: one drawing, relabelled
        second_mouse.answer(second_mouse.draw(ZERO))

        for student in students:
            expect(student.page.get_by_text(f"You drew {counted(len(student.answers), 'digit')} in this class")
                   ).to_be_visible(timeout=RESULT_TIMEOUT)
            [context.close() for context in contexts if context is student.page.context]

        answers = [answer for student in students for answer in student.answers]
        expect(metric(teacher, "Drawings")).to_have_text(str(len(answers)), timeout=LIVE_TIMEOUT)
        expect(metric(teacher, "Students")).to_have_text("3")
        expect(metric(teacher, "Corrected")).to_have_text(str(sum(label != reading for label, reading in answers)))
        wanted = expected_cells(answers)
        deadline = time.monotonic() + LIVE_TIMEOUT / 1000
        while confusion_cells(teacher) != wanted and time.monotonic() < deadline:
            time.sleep(0.5)
        assert confusion_cells(teacher) == wanted

        struggles = {}
        for digit in {label for label, _ in answers}:
            drawn = sum(label == digit for label, _ in answers)
            right = sum(label == digit == reading for label, reading in answers)
            if right < drawn:
                struggles[digit] = (right, drawn)
        line = teacher.get_by_text("Misread at least once, hardest first").inner_text()
        shown = [(int(digit), int(right), int(drawn))
                 for digit, right, drawn in re.findall(r"(\d) \((\d+) of (\d+) right\)", line)]
        assert {digit: (right, drawn) for digit, right, drawn in shown} == struggles and 7 in struggles
        shares = [right / drawn for _digit, right, drawn in shown]
        assert shares == sorted(shares)  # hardest first
