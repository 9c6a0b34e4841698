"""`python -m digitlab bench`: the benchmarks, handed the pages' own code.

The one library module that imports digitlab/ui/: it builds the Draw page's server work from the page's
own code and hands it to digitlab/bench/, which never imports ui/, so the figures time what users meet.
"""

from __future__ import annotations

import argparse
import json
import sys

from digitlab.cli.models import MODEL_HELP


def add_bench_parser(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="measure accuracy (MNIST, real pen drawings), speed and memory")
    bench.add_argument("--model", default=None, help=MODEL_HELP)
    bench.add_argument("--json", action="store_true", help="one line of JSON")
    bench.add_argument("--quick", action="store_true", help="small samples: a smoke run, not figures to record")
    bench.add_argument("--load", type=client_counts, default=None, metavar="N,N,...",
                       help="concurrent clients to simulate, e.g. 1,4,16")
    bench.add_argument("--while-training", action="store_true", help="also measure while a training run is active")
    bench.add_argument("--browser", action="store_true",
                       help="draw pen digits in Chromium on the app and on a bare canvas app; time each stroke")
    bench.add_argument("--digits", type=int, default=20, help="with --browser: pen digits drawn on each app")
    bench.add_argument("--strokes", type=int, default=0,
                       help="with --browser: draw more digits until each app got this many strokes (30 for a p95)")
    bench.add_argument("--trace", default=None, metavar="DIR",
                       help="with --browser: trace one more stroke on each app with Chromium, write the traces to "
                            "DIR and summarise their largest costs")
    bench.add_argument("--memory", action="store_true",
                       help="the app server's resident memory after each part a visitor uses, in Chromium")
    bench.add_argument("--warm-caches", action="store_true",
                       help="with --memory: keep the evaluation cache (the Why? index, MNIST test's evaluation) as a "
                            "server whose disk survived a restart; by default it starts empty, as on Community Cloud")
    bench.add_argument("--bank-effect", action="store_true",
                       help="import pen writers 1-20 into a drawing bank, fine-tune --model on it, and read writers "
                            "21-30 before and after (several minutes)")
    bench.add_argument("--member", type=int, default=None,
                       help="with --bank-effect: fine-tune this member of an ensemble --model")


def client_counts(text: str) -> list[int]:
    """An argparse type for --load: "1,4,16" -> [1, 4, 16], each a count of clients the load test can start."""
    from digitlab.bench.load import MAX_CLIENTS  # here, not at the top: only a --load given needs the load test

    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or not all(1 <= count <= MAX_CLIENTS for count in counts):
        raise argparse.ArgumentTypeError(f"give client counts from 1 to {MAX_CLIENTS} separated by commas, "
                                         f"e.g. 1,4,16, not {text!r}")
    return counts


def run_bench_command(args) -> int:
    from digitlab.bench.report import run_bench
    from digitlab.datasets.mnist import MnistUnavailableError
    from digitlab.store.registry import ModelLoadError

    if args.browser:  # what a person drawing feels, against the canvas's own floor (digitlab/bench/browser.py)
        from digitlab.bench.browser import run_browser_bench

        report = run_browser_bench(n_digits=args.digits, min_strokes=args.strokes, while_training=args.while_training,
                                   trace_dir=args.trace)
        print(json.dumps(report, indent=None if args.json else 2))
        return 0
    if args.memory:  # what each part of the app costs the server (digitlab/bench/server_memory.py)
        from digitlab.bench.server_memory import run_memory_bench

        print(json.dumps(run_memory_bench(warm_caches=args.warm_caches), indent=None if args.json else 2))
        return 0
    if args.bank_effect:  # what training on the drawing bank does for unseen writers (digitlab/bench/bank_effect.py)
        from digitlab.bench.bank_effect import run_bank_effect
        from digitlab.datasets.pendigits import pendigits_path

        if pendigits_path() is None:
            print("error: the pen writers' file (pendigits-orig.tra) is not on this machine; see "
                  "../shared/data/README.md.", file=sys.stderr)
            return 2
        try:
            report = run_bank_effect(args.model, pendigits_path(), member=args.member)
        except (ModelLoadError, MnistUnavailableError, ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(json.dumps(report, indent=None if args.json else 2))
        return 0
    try:
        report = run_bench(args.model, draw_page_work(), quick=args.quick, load_clients=args.load,
                           while_training=args.while_training)
    except (ModelLoadError, MnistUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def draw_page_work():
    """The Draw page's server work after a reading, as the page itself does it (digitlab/ui/).

    Outside `streamlit run`, Streamlit builds and serialises each element exactly as for a browser and
    then drops it, so this times the page's real server work after the prediction, not a stand-in.
    Imported here, not at the top, so that other commands never load Streamlit.
    """
    import logging

    from digitlab.bench.report import DrawPageWork
    from digitlab.ui.digit_reading import reading_panels, show_reading
    from digitlab.ui.figures.numbers import digit_probability_charts, reading_overlay

    def show_digit(prediction) -> None:  # model view, metric and chart, as on the Draw page
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
        _, model_view_column, result_column = reading_panels()
        show_reading(prediction, model_view_column, result_column)

    def show_number(image, reading) -> None:  # Number mode's boxes picture and probability bars
        reading_overlay(image, reading)
        digit_probability_charts(reading).to_plotly_json()

    return DrawPageWork(show_digit=show_digit, show_number=show_number)
