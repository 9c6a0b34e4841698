"""The README's screenshots, taken in Chromium from the real app so they show what the code does today.

    python -m tests.e2e.screenshots [--out docs/screenshots] [--only draw,why,number,train,train-bank,evaluate,drawings,draw-phone,sweep,class]
                                    [--sweep-runs RUNS_DIR --sweep-database SQLITE_FILE]

Serves `streamlit run app.py` with a copy of the shipped models/ and a throwaway runs folder and drawing
bank (nothing in the repository changes), draws real pen digits (UCI pendigits, held-out writers) with
the mouse stroke by stroke, and saves one viewport PNG per page. The finished run on the Train page is
a real, short training run started here, so its curves and accuracy are measured, not made up.
The Sweep section shows a real sweep: by default a small one run here (mlp on 2,000 MNIST images, 8 trials), or,
given --sweep-runs and --sweep-database, a copy of a sweep already run (the benchmark's, for example).
Shots that need what this machine lacks (Chromium, MNIST, the pen data) are skipped with a message.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digitlab.bench.browser import canvas_strokes
from digitlab.bench.servers import CHROMIUM_FLAGS, chromium_path
from digitlab.datasets.pendigits import HELD_OUT_WRITERS, pendigits_path, read_pendigits

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
PAGE_TIMEOUT = 180_000  # ms: on a busy machine the first page view loads the model, the first Why? embeds MNIST
SHOWN_DIGIT = 4  # the pen digit drawn on the Draw page: several strokes, so drawing it stroke by stroke shows
NUMBER_DIGITS = (2, 0, 2, 6)  # the number written in Number mode
BANK_DIGITS_PER_CLASS = 2  # pen digits imported into the drawing bank for the Drawings page
SHORT_RUN = "20260101-120000-cnn-small"  # the short run's folder, for the Train page
BANK_RUN = "20260101-130000-cnn-small"  # the short run fine-tuned on a drawing bank
TRAINING = ["--arch", "cnn-small", "--epochs", "3", "--limit", "4000", "--threads", "1", "--no-augment",
            "--seed", "0", "--title", "cnn-small on 4,000 MNIST images"]


def mnist_path() -> Path | None:
    """MNIST where DigitLab looks for it, or in the shared data folder beside the repository."""
    from digitlab.datasets.mnist import candidate_paths

    shared = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
    for path in [*(path for _, path in candidate_paths()), shared]:
        if path.is_file():
            return path
    return None


def held_out_digits(path: Path) -> dict[int, list]:
    """The held-out writers' pen digits by class, in the file's order (so every regeneration draws the same)."""
    by_class: dict[int, list] = {digit: [] for digit in range(10)}
    for digit in read_pendigits(path):
        if digit.writer in HELD_OUT_WRITERS:
            by_class[digit.label].append(digit)
    return by_class


def number_strokes(digits: list, width: float, height: float) -> list:
    """Pen digits side by side on the wide number canvas (as wide as the page makes it), each in its own cell."""
    cell = min(height, width / (len(digits) + 0.5))
    left, top = (width - cell * len(digits)) / 2, (height - cell) / 2
    strokes = []
    for index, digit in enumerate(digits):
        for stroke in canvas_strokes(digit, size=cell):
            strokes.append([(left + index * cell + x, top + y) for x, y in stroke])
    return strokes


def wait_until_settled(page, quiet_polls: int = 4, poll_ms: int = 400, timeout_s: float = 120) -> None:
    """Wait until the page's text has stopped changing.

    A stroke reruns only the drawing area (a fragment), which does not flip the app's running state, and
    the canvas sends a stroke a moment after pen-up: the page may still be replacing its reading element
    by element when wait_for_app_idle returns, which would picture a new number over old bars.
    """
    deadline = time.time() + timeout_s
    last, unchanged = None, 0
    while unchanged < quiet_polls and time.time() < deadline:
        page.wait_for_timeout(poll_ms)
        text = page.locator("[data-testid='stMain']").inner_text()
        unchanged = unchanged + 1 if text == last else 0
        last = text


def grab(page):
    """The viewport as a Pillow image, once the page has settled, without hover effects or a text selection."""
    from PIL import Image

    page.mouse.move(2, 2)  # no hover highlights or toolbars in the picture
    page.evaluate("() => window.getSelection().removeAllRanges()")
    wait_until_settled(page)
    return Image.open(io.BytesIO(page.screenshot(animations="disabled"))).convert("RGB")


def save(page, out: Path, name: str, image=None) -> Path:
    """A PNG of the viewport (or of the image given), re-encoded by Pillow as small as it losslessly goes."""
    image = image or grab(page)
    path = out / f"{name}.png"
    image.save(path, optimize=True)
    print(f"saved {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path} "
          f"({image.width}x{image.height}, {path.stat().st_size // 1024} KiB)")
    return path


def side_by_side(left, right, gap: int = 16):
    """Two screenshots next to each other on a white background."""
    from PIL import Image

    both = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), "white")
    both.paste(left, (0, 0))
    both.paste(right, (left.width + gap, 0))
    return both


def train_a_run(runs: Path, models: Path, env: dict) -> None:
    """A real short training run into the runs folder, as the Train page would start one."""
    print("training a short run for the Train page (cnn-small, 3 epochs on 4,000 images) ...")
    started = time.time()
    subprocess.run(["nice", "-n", "10", sys.executable, "-m", "digitlab", "train", *TRAINING,
                    "--out", str(runs / SHORT_RUN)],
                   cwd=REPO_ROOT, env={**env, "DIGITLAB_RUNS": str(runs), "DIGITLAB_MODELS": str(models)},
                   check=True, capture_output=True)
    print(f"  trained in {time.time() - started:.0f} s")


def fine_tune_on_the_bank(runs: Path, models: Path, database_url: str, pen_path: Path, env: dict) -> None:
    """Import six pen writers into the bank and fine-tune the short run on it, as the Train page would."""
    print("fine-tuning the short run on a drawing bank of pen writers 1-6 ...")
    started = time.time()
    run_env = {**env, "DIGITLAB_RUNS": str(runs), "DIGITLAB_MODELS": str(models), "DIGITLAB_DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "digitlab", "drawings", "import", str(pen_path), "--writers", "1-6"],
                   cwd=REPO_ROOT, env=run_env, check=True, capture_output=True)
    subprocess.run(["nice", "-n", "10", sys.executable, "-m", "digitlab", "train", "--arch", "cnn-small",
                    "--init-from", str(runs / SHORT_RUN), "--bank-weight", "3", "--limit", "2000", "--epochs", "1",
                    "--lr", "0.0003", "--no-augment", "--title", "short run + drawing bank",
                    "--out", str(runs / BANK_RUN)], cwd=REPO_ROOT, env=run_env, check=True, capture_output=True)
    print(f"  imported and trained in {time.time() - started:.0f} s")


SMALL_SWEEP = ["--study", "sweep-mlp-lr-batch", "--trials", "8", "--parallel", "2", "--arch", "mlp", "--epochs", "2",
               "--limit", "2000", "--no-augment", "--param", "lr=3e-4:3e-2:log", "--param", "batch_size=32,64,128"]


def run_a_sweep(runs: Path, database_url: str, env: dict) -> None:
    """A real small sweep with `python -m digitlab sweep`, its trials ordinary runs in the runs folder."""
    print("sweeping a small recipe for the Sweep section (8 trials of mlp on 2,000 images) ...")
    started = time.time()
    subprocess.run(["nice", "-n", "10", sys.executable, "-m", "digitlab", "sweep", *SMALL_SWEEP], cwd=REPO_ROOT,
                   env={**env, "DIGITLAB_RUNS": str(runs), "DIGITLAB_DATABASE_URL": database_url}, check=True,
                   capture_output=True)
    print(f"  swept in {time.time() - started:.0f} s")


def shoot_sweep(browser, out: Path, root: Path, models: Path, sweep_from: tuple[Path, Path] | None) -> None:
    """The Train page's Sweep section on its own app: the sweep's trials, its verdict and its history."""
    from playwright.sync_api import expect

    from tests.e2e.conftest import running_app, wait_for_app_idle

    runs, database = root / "sweep-runs", root / "sweep.sqlite"
    if sweep_from:
        shutil.copytree(sweep_from[0], runs)
        shutil.copyfile(sweep_from[1], database)
    else:
        runs.mkdir()
        run_a_sweep(runs, f"sqlite:///{database}", {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    with running_app({"models": models, "runs": runs}, extra_env={"DIGITLAB_DATABASE_URL": f"sqlite:///{database}",
                                                                  "TF_CPP_MIN_LOG_LEVEL": "3"}) as url:
        page = browser.new_context(viewport={"width": DESKTOP["width"], "height": 1400}).new_page()
        page.set_default_timeout(PAGE_TIMEOUT)
        page.goto(f"{url}/train")
        wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
        expect(page.get_by_text("Optimisation history").last).to_be_visible(timeout=PAGE_TIMEOUT)  # the tab, then its chart
        wait_for_app_idle(page)
        scroll_to_top_of_view(page.get_by_role("heading", name="Sweep"))
        save(page, out, "sweep")
        page.context.close()


CLASS_WRITERS = range(1, 9)  # the pen writers who play a class of eight students on the Class page


def shoot_class(browser, out: Path, root: Path, models: Path, pen_path: Path) -> None:
    """The Class page on its own app and bank: eight pen writers as a class, each digit read by the shipped model."""
    from playwright.sync_api import expect

    from digitlab.bank.archive import import_unipen
    from digitlab.bank.classes import ClassBook
    from digitlab.bank.repository import open_bank
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import entry_for_path
    from tests.e2e.conftest import running_app, wait_for_app_idle

    database_url = f"sqlite:///{root / 'class.sqlite'}"
    bank = open_bank(database_url)
    school_class, _code = ClassBook(bank).create("Year 7, Tuesday")
    entry = entry_for_path(models / "default.keras")
    import_unipen(bank, pen_path, writers=CLASS_WRITERS, class_id=school_class.id,
                  read=load_serving_predictor(entry).predict_mnist, model_sha256=entry.sha256)
    with running_app({"models": models, "runs": root / "class-runs"},
                     extra_env={"DIGITLAB_DATABASE_URL": database_url, "TF_CPP_MIN_LOG_LEVEL": "3"}) as url:
        page = browser.new_context(viewport={"width": DESKTOP["width"], "height": 1400}).new_page()
        page.set_default_timeout(PAGE_TIMEOUT)
        page.goto(f"{url}/class")
        wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
        expect(page.get_by_role("heading", name="Confusion matrix")).to_be_visible(timeout=PAGE_TIMEOUT)
        wait_for_app_idle(page)
        scroll_to_top_of_view(page.get_by_test_id("stMetric").first)
        save(page, out, "class")
        page.context.close()


def fill_drawing_bank(database_url: str, by_class: dict[int, list], folder: Path, env: dict) -> None:
    """Import a few held-out pen digits of each class with `python -m digitlab drawings import`."""
    chosen = [digit for label in range(10) for digit in by_class[label][:BANK_DIGITS_PER_CLASS]]
    unipen = folder / "a-few-pen-digits.tra"
    lines = []
    for digit in chosen:  # written back as UNIPEN text: the format the import command reads
        lines += [f'.SEGMENT DIGIT 0 ? "{digit.label}"', f".COMMENT {digit.label} {digit.writer} 0"]
        for stroke in digit.strokes:
            lines.append(".PEN_DOWN")
            lines += [f" {x:.0f} {500 - y:.0f}" for x, y in stroke]
            lines.append(".PEN_UP")
    unipen.write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, "-m", "digitlab", "drawings", "import", str(unipen)], cwd=REPO_ROOT,
                   env={**env, "DIGITLAB_DATABASE_URL": database_url}, check=True, capture_output=True)


def scroll_to_top_of_view(locator, header_px: int = 64) -> None:
    """Scroll the page so the element is at the top of the viewport, just under Streamlit's header bar."""
    locator.evaluate(f"element => {{ element.style.scrollMarginTop = '{header_px}px'; "
                     "element.scrollIntoView({block: 'start'}); }")


# The part of an element's width that can be seen and drawn on: ancestors that clip their overflow cut it.
VISIBLE_WIDTH_JS = """element => {
    const box = element.getBoundingClientRect();
    let right = Math.min(box.right, window.innerWidth);
    for (let parent = element.parentElement; parent; parent = parent.parentElement) {
        if (getComputedStyle(parent).overflowX !== 'visible') right = Math.min(right, parent.getBoundingClientRect().right);
    }
    return right - box.left;
}"""


def take_screenshots(out: Path, only: set[str], sweep_from: tuple[Path, Path] | None = None) -> int:
    browser_path = chromium_path()
    if browser_path is None:
        print("skipped: no Chromium browser on this machine (install Debian's 'chromium' package)")
        return 0
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import running_app, wait_for_app_idle
    from tests.e2e.drawing import FOUR, ONE, RESULT_TIMEOUT, ZERO, canvas_area, draw, open_draw_page
    from tests.e2e.test_number_browser import shifted

    mnist = mnist_path()
    pen_path = pendigits_path()
    if mnist is None:
        print("note: no MNIST (set DIGITLAB_MNIST): the Why?, Train and Evaluate shots are skipped")
        only -= {"why", "train", "train-bank", "evaluate", "sweep"}
    if pen_path is None:
        print("note: no pendigits-orig.tra: digits are drawn from simple mouse strokes, the Drawings shot is skipped")
        only -= {"drawings", "train-bank", "class"}
    by_class = held_out_digits(pen_path) if pen_path else None
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="digitlab-screenshots-") as temporary:
        root = Path(temporary)
        dirs = {"models": root / "models", "runs": root / "runs"}
        shutil.copytree(REPO_ROOT / "models", dirs["models"])
        dirs["runs"].mkdir()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        database_url = f"sqlite:///{root / 'drawings.sqlite'}"
        server_env = {"DIGITLAB_DATABASE_URL": database_url, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if mnist is not None:
            server_env["DIGITLAB_MNIST"] = env["DIGITLAB_MNIST"] = str(mnist)
        if only & {"train", "train-bank"}:
            train_a_run(dirs["runs"], dirs["models"], env)
        if "train-bank" in only:
            fine_tune_on_the_bank(dirs["runs"], dirs["models"], f"sqlite:///{root / 'bank-for-training.sqlite'}",
                                  pen_path, env)
        if "drawings" in only:
            fill_drawing_bank(database_url, by_class, root, env)

        digit_strokes = canvas_strokes(by_class[SHOWN_DIGIT][0]) if by_class else FOUR
        number_digits = [by_class[label][1 + index] for index, label in enumerate(NUMBER_DIGITS)] if by_class else None

        with running_app(dirs, extra_env=server_env) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_context(viewport=DESKTOP).new_page()
            page.set_default_timeout(PAGE_TIMEOUT)
            page.goto(url)
            wait_for_app_idle(page, timeout=PAGE_TIMEOUT)  # the first view loads the model

            if only & {"draw", "why"}:  # a digit drawn stroke by stroke, its reading and the bars
                open_draw_page(page, url)
                draw(page, digit_strokes)
                expect(page.get_by_test_id("stMetricLabel")).to_have_text("Prediction", timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                if "draw" in only:
                    save(page, out, "draw")
                if "why" in only:  # Why? embeds the MNIST training digits to find the nearest ones
                    page.get_by_text("Why this answer?").click()
                    panel = page.get_by_test_id("stExpander").filter(has_text="Why this answer?")
                    expect(panel.get_by_text("Where the ink counted", exact=True)).to_be_visible(timeout=PAGE_TIMEOUT)
                    expect(panel.get_by_text("The most similar MNIST training digits")).to_be_visible(
                        timeout=PAGE_TIMEOUT)
                    wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
                    scroll_to_top_of_view(panel)
                    save(page, out, "why")

            if "number" in only:  # a whole number written digit by digit on the wide canvas
                open_draw_page(page, url)
                page.get_by_text("A number", exact=True).click()
                wait_for_app_idle(page)
                expect(page.get_by_text("Write a number on the wide black strip")).to_be_visible(timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                box = canvas_area(page).bounding_box()
                visible = canvas_area(page).evaluate(VISIBLE_WIDTH_JS)
                if visible < box["width"] - 1:
                    print(f"note: the number canvas is {box['width']:.0f} px wide but only {visible:.0f} px of it "
                          f"can be seen at a {DESKTOP['width']} px wide window; drawing in the part that shows")
                if number_digits:
                    strokes = number_strokes(number_digits, visible, box["height"])
                else:
                    strokes = ONE + shifted(ZERO, 200) + shifted(FOUR, 420)
                draw(page, strokes)
                expect(page.get_by_test_id("stMetricLabel")).to_have_text("Number", timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                page.set_viewport_size({"width": DESKTOP["width"], "height": 1240})  # the canvas and its reading
                scroll_to_top_of_view(canvas_area(page))
                save(page, out, "number")
                page.set_viewport_size(DESKTOP)

            if "train" in only:  # the finished run, chosen in the runs table, with its curves
                page.goto(f"{url}/train")
                wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
                table = page.get_by_test_id("stDataFrame")
                scroll_to_top_of_view(table)
                box = table.bounding_box()
                row = 1 if "train-bank" in only else 0  # the fine-tune on the bank, newer, comes first
                page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)  # that row's selection box
                expect(page.get_by_text("Its curves")).to_be_visible(timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                scroll_to_top_of_view(page.get_by_role("heading", name="Runs"))
                save(page, out, "train")

            if "train-bank" in only:  # the fine-tune on the bank, chosen in the runs table: before and after
                page.goto(f"{url}/train")
                wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
                table = page.get_by_test_id("stDataFrame")
                scroll_to_top_of_view(table)
                box = table.bounding_box()
                page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row: the newest run
                expect(page.get_by_text("Before and after")).to_be_visible(timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                scroll_to_top_of_view(page.get_by_text("short run + drawing bank").last)
                save(page, out, "train-bank")

            if "evaluate" in only:
                page.goto(f"{url}/evaluate")
                wait_for_app_idle(page, timeout=PAGE_TIMEOUT)  # evaluates the model on the 10,000 test images
                page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=PAGE_TIMEOUT)
                scroll_to_top_of_view(page.get_by_text("Confusion matrix", exact=True))
                save(page, out, "evaluate")

            if "drawings" in only:
                page.goto(f"{url}/drawings")
                wait_for_app_idle(page, timeout=PAGE_TIMEOUT)
                expect(page.get_by_text("drawings match", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)
                save(page, out, "drawings")

            if "draw-phone" in only:  # the Draw page on a phone
                phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
                phone.set_default_timeout(PAGE_TIMEOUT)
                open_draw_page(phone, url)
                draw(phone, digit_strokes)
                expect(phone.get_by_test_id("stMetricLabel")).to_have_text("Prediction", timeout=RESULT_TIMEOUT)
                wait_for_app_idle(phone)
                drawing = grab(phone)  # on a phone the reading is under the canvas: show both screens
                scroll_to_top_of_view(phone.get_by_test_id("stMetric"))
                save(phone, out, "draw-phone", side_by_side(drawing, grab(phone)))
            if "sweep" in only:
                shoot_sweep(browser, out, root, dirs["models"], sweep_from)
            if "class" in only:
                shoot_class(browser, out, root, dirs["models"], pen_path)
            browser.close()
    return 0


SHOTS = ("draw", "why", "number", "train", "train-bank", "evaluate", "drawings", "draw-phone", "sweep", "class")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs (default: docs/screenshots)")
    parser.add_argument("--only", default=",".join(SHOTS),
                        help=f"comma-separated shots to take (default: all of {', '.join(SHOTS)})")
    parser.add_argument("--sweep-runs", type=Path, default=None, help="a runs folder holding a sweep's trials to show")
    parser.add_argument("--sweep-database", type=Path, default=None, help="the SQLite file holding that sweep's study")
    args = parser.parse_args(argv)
    if (args.sweep_runs is None) != (args.sweep_database is None):
        parser.error("--sweep-runs and --sweep-database go together")
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if only - set(SHOTS):
        parser.error(f"unknown shot(s) {', '.join(sorted(only - set(SHOTS)))}; choose from {', '.join(SHOTS)}")
    sweep_from = (args.sweep_runs.resolve(), args.sweep_database.resolve()) if args.sweep_runs else None
    return take_screenshots(args.out.resolve(), only, sweep_from)


if __name__ == "__main__":
    sys.exit(main())
