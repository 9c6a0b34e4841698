"""The command line: `python -m digitlab train|predict|evaluate|bench|models|promote|restore|ensemble|drawings|explain`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

VERBOSE_FLAG = "--verbose"


MODEL_HELP = "a registered model's name (see `models`), a run folder, or a registered .keras file (default: the active model)"


def add_train_parser(subparsers) -> None:
    from digitlab.training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
    from digitlab.store.run_folder import TrainConfig

    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model into a run folder")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="train the config.json already in this run folder (how the app launches runs)")
    parser.add_argument("--arch", default=DEFAULT_ARCHITECTURE, choices=list(ARCHITECTURES))
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit", type=int, default=None, help="train on only this many MNIST images")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for TensorFlow")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under the runs folder)")
    parser.add_argument("--teacher", default=None, help="a registered model (name or path) to distil from (e.g. an ensemble)")
    parser.add_argument("--teacher-weight", type=float, default=defaults.teacher_weight,
                        help="share of each target taken from the teacher's probabilities")
    parser.add_argument("--title", default="", help="a name for the run, shown in the app")
    parser.add_argument("--pen-digits", default=None,
                        help="pendigits-orig.tra: add its training writers' drawings (never the held-out ones)")
    parser.add_argument("--pen-copies", type=int, default=defaults.pen_copies,
                        help="times each pen digit is drawn, each with its own size, place and brush")
    parser.add_argument("--non-digits", type=int, default=defaults.non_digits,
                        help="add this many generated non-digit drawings and a 'not a digit' output")
    parser.add_argument("--init-from", default=None, help="a registered model (name or path) to start from (fine-tune)")
    parser.add_argument("--init-member", type=int, default=None, help="which member of an ensemble --init-from to use")
    parser.add_argument("--bank-weight", type=int, default=0,
                        help="also train on the drawing bank (DIGITLAB_DATABASE_URL), each drawing this many times; "
                             "a quarter of its writers are held out to compare before and after. Fine-tune on the "
                             "bank: --init-from default --bank-weight 3 --limit 10000 --epochs 2 --lr 0.0003")


def run_train(args) -> int:
    from digitlab.store import run_folder as runs
    from digitlab.training.trainer import train_run

    if args.run_dir is not None:
        run_dir = args.run_dir
    else:
        config = runs.TrainConfig(arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                  augment=args.augment, seed=args.seed, limit=args.limit, threads=args.threads,
                                  teacher=args.teacher, teacher_weight=args.teacher_weight, title=args.title,
                                  pen_digits=args.pen_digits, pen_copies=args.pen_copies, non_digits=args.non_digits,
                                  init_from=args.init_from, init_member=args.init_member,
                                  bank_weight=args.bank_weight)
        try:
            if config.teacher is not None:
                from digitlab.store.registry import resolve_model

                resolve_model(config.teacher)  # a missing teacher is refused before a run folder is made
            bank = None
            if config.bank_weight:
                from digitlab.training.bank_fine_tune import snapshot_bank
                from digitlab.bank.repository import open_bank

                bank = snapshot_bank(open_bank())
            run_dir = runs.create_run(config, run_dir=args.out, bank=bank)
        except (ValueError, OSError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    status = train_run(run_dir)
    print(json.dumps({"run": str(run_dir), "state": status.state, "test_accuracy": status.test_accuracy,
                      "message": status.message, "warning": status.warning, "comparison": status.comparison}))
    return 0 if status.state in ("done", "stopped") else 1


def load_predictor_or_exit(model: str | None):
    """The Predictor for --model (or the active default); None after printing why it cannot load."""
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import ModelLoadError, resolve_model

    try:
        return load_serving_predictor(resolve_model(model))  # its LiteRT flatbuffer: no TensorFlow
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def run_predict(args) -> int:
    from digitlab.cli.file_reports import report_each_file

    predictor = load_predictor_or_exit(args.model)
    if predictor is None:
        return 2
    if args.number:
        from digitlab.serving.number_segmentation import read_number

        return report_each_file(args.files, lambda image: read_number(predictor, image).to_json(), describe_number,
                                args.json)

    def read(image) -> dict:
        prediction = predictor.predict_image(image)
        return {**prediction.to_json(), **({"message": prediction.message} if prediction.digit is None else {})}

    return report_each_file(args.files, read, describe_prediction, args.json)


def describe_prediction(result: dict) -> str:
    if result["digit"] is None:
        return f"{result['file']}: no digit ({result['message']})"
    return f"{result['file']}: {result['digit']} ({max(result['probabilities']):.1%})"


def describe_number(result: dict) -> str:
    if result["number"] is None:
        return f"{result['file']}: no number ({result['message']})"
    return f"{result['file']}: {result['number']}"


def run_evaluate(args) -> int:
    from digitlab.datasets.mnist import MnistUnavailableError, load_mnist
    from digitlab.evaluation.metrics import evaluate_model
    from digitlab.store.registry import resolve_model

    predictor = load_predictor_or_exit(args.model)
    if predictor is None:
        return 2
    if args.dataset == "drawings":
        from digitlab.cli.drawings import run_evaluate_drawings

        return run_evaluate_drawings(args, predictor, resolve_model(args.model).sha256, print_evaluation)
    try:
        mnist = load_mnist()
    except MnistUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    entry = resolve_model(args.model)
    evaluation = evaluate_model(predictor, mnist, model_sha256=entry.sha256)
    print_evaluation({"model": entry.name, "sha256": entry.sha256, **evaluation.to_json()}, f"{entry.name}: MNIST test",
                     args.json)
    return 0


def print_evaluation(result: dict, dataset: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        print(f"{dataset} accuracy: {result['accuracy']:.2%} ({result['errors']:,} errors in {result['n']:,})")
        for row in result["per_class"]:
            print(f"  {row['digit']}: precision {row['precision']:.4f}  recall {row['recall']:.4f}  support {row['support']}")


def run_bench_command(args) -> int:
    from digitlab.bench.benchmarks import run_bench
    from digitlab.datasets.mnist import MnistUnavailableError
    from digitlab.store.registry import ModelLoadError

    if args.browser:  # what a person drawing feels, against the canvas's own floor (digitlab/bench/browser.py)
        from digitlab.bench.browser import run_browser_bench

        print(json.dumps(run_browser_bench(n_digits=args.digits), indent=None if args.json else 2))
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
    load = [int(n) for n in args.load.split(",")] if args.load else None
    try:
        report = run_bench(args.model, quick=args.quick, load_clients=load, while_training=args.while_training)
    except (ModelLoadError, MnistUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def registered_json(entry) -> dict:
    """What the CLI prints about a model it has just written into models/."""
    return {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256, "version": entry.card.get("version")}


def run_promote(args) -> int:
    from digitlab.store import run_folder as runs
    from digitlab.store.registry import ModelExistsError, ModelLoadError, promote_run

    run_dir = args.run
    if not run_dir.is_dir() and runs.find_run(str(args.run)) is not None:
        run_dir = runs.runs_root() / str(args.run)  # a run named by its folder under the runs root
    if not run_dir.is_dir():
        print(f"error: there is no run folder {args.run}.", file=sys.stderr)
        return 2
    try:
        entry = promote_run(run_dir, args.name, replace=args.replace, make_active=args.make_default)
    except ModelExistsError as error:
        print(f"error: {error} Add --replace to replace it.", file=sys.stderr)
        return 2
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({**registered_json(entry), "default": args.make_default}))
    return 0


def run_restore(args) -> int:
    from digitlab.store.registry import ModelLoadError, restore_version, set_active_model

    try:
        entry = restore_version(args.name, args.version)
        if args.make_default:
            set_active_model(entry.name)
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({**registered_json(entry), "restored_from_version": args.version}))
    return 0


def run_models(args) -> int:
    from digitlab.store.registry import active_model_name, list_models

    active = active_model_name()
    for entry in list_models():
        row = {"name": entry.name, "default": entry.name == active, "usable": entry.usable, "problem": entry.problem,
               "architecture": entry.card.get("architecture"), "mnist_test_accuracy": entry.test_accuracy,
               "version": entry.card.get("version"), "path": str(entry.path), "sha256": entry.sha256}
        if args.json:
            print(json.dumps(row))
        else:
            accuracy = f"{entry.test_accuracy:.2%}" if entry.test_accuracy is not None else "–"
            mark = "*" if row["default"] else " "
            print(f"{mark} {entry.name:<40} {accuracy:>7}  {entry.problem or entry.card.get('architecture') or ''}")
    return 0


def run_flatbuffer(args) -> int:
    """Write the flatbuffer for registered .keras files and print each card's new section."""
    from digitlab.store.flatbuffers import CARD_KEY, write_flatbuffer
    from digitlab.store.registry import entry_for_path, load_keras_model

    failures = 0
    for path in args.models:
        entry = entry_for_path(path)
        if not entry.usable:
            print(f"error: {path}: {entry.problem}", file=sys.stderr)
            failures += 1
            continue
        section = write_flatbuffer(entry.path, entry.sha256, lambda: load_keras_model(entry.path, entry.sha256))
        failures += "error" in section[CARD_KEY]
        print(json.dumps({"model": str(entry.path), **section}))
    return 1 if failures else 0


def run_owner_password(args) -> int:
    import getpass

    from digitlab.config.access import OWNER_PASSWORD_HASH_VAR, hash_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("Owner password: ")
    try:
        print(f'{OWNER_PASSWORD_HASH_VAR} = "{hash_password(password)}"')
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run_ensemble(args) -> int:
    from digitlab.datasets.mnist import MnistUnavailableError
    from digitlab.training.ensemble import create_ensemble
    from digitlab.store.registry import ModelLoadError

    try:
        entry = create_ensemble(args.runs, args.name, replace=args.replace)
    except (ModelLoadError, MnistUnavailableError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({**registered_json(entry), "mnist_test_accuracy": entry.test_accuracy}))
    return 0


def quiet_native_logs() -> None:
    """Keep TensorFlow's and LiteRT's start-up chatter off the terminal; DigitLab's own errors still show.

    Their C++ code writes straight to file descriptor 2, so that descriptor goes to /dev/null and Python's
    sys.stderr is moved to a copy of the real one.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        real_stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(real_stderr, "w", buffering=1)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = VERBOSE_FLAG in argv
    argv = [arg for arg in argv if arg != VERBOSE_FLAG]  # accepted anywhere on the line
    parser = argparse.ArgumentParser(prog="python -m digitlab", description="DigitLab: handwritten digits with Keras.")
    parser.add_argument(VERBOSE_FLAG, action="store_true", help="show TensorFlow's and LiteRT's own log lines")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_train_parser(subparsers)

    predict = subparsers.add_parser("predict", help="predict the digit in image files (PNG or JPEG)")
    predict.add_argument("files", nargs="+", type=Path)
    predict.add_argument("--model", default=None, help=MODEL_HELP)
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument("--number", action="store_true", help="read every digit of a number in each image")

    evaluate = subparsers.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix on MNIST test")
    evaluate.add_argument("--model", default=None, help=MODEL_HELP)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--dataset", choices=["mnist", "drawings"], default="mnist",
                          help="MNIST test (default) or the labelled drawings in the drawing bank")
    evaluate.add_argument("--writer", default=None, help="with --dataset drawings: only this writer's drawings")

    bench = subparsers.add_parser("bench", help="measure accuracy (MNIST, real pen drawings), speed and memory")
    bench.add_argument("--model", default=None, help=MODEL_HELP)
    bench.add_argument("--json", action="store_true", help="one line of JSON")
    bench.add_argument("--quick", action="store_true", help="small samples: a smoke run, not figures to record")
    bench.add_argument("--load", default=None, help="concurrent clients to simulate, e.g. 1,4,16")
    bench.add_argument("--while-training", action="store_true", help="also measure while a training run is active")
    bench.add_argument("--browser", action="store_true",
                       help="draw pen digits in Chromium on the app and on a bare canvas app; time each stroke")
    bench.add_argument("--digits", type=int, default=20, help="with --browser: pen digits drawn on each app")
    bench.add_argument("--bank-effect", action="store_true",
                       help="import pen writers 1-20 into a drawing bank, fine-tune --model on it, and read writers "
                            "21-30 before and after (several minutes)")
    bench.add_argument("--member", type=int, default=None,
                       help="with --bank-effect: fine-tune this member of an ensemble --model")

    promote = subparsers.add_parser("promote", help="copy a finished run's model into models/ and make it the default")
    promote.add_argument("run", type=Path, help="the run folder (or its name under the runs folder)")
    promote.add_argument("--name", default=None, help="model name in models/ (default: the run folder's name)")
    promote.add_argument("--replace", action="store_true",
                         help="replace a model of that name (its current version is kept and can be restored)")
    promote.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=True,
                         help="make it the model everyone gets (default: yes)")

    restore = subparsers.add_parser("restore", help="make an earlier version of a model in models/ current again")
    restore.add_argument("name", help="the model's name")
    restore.add_argument("--version", type=int, required=True, help="the version to restore (see `models --json`)")
    restore.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=False,
                         help="also make it the model everyone gets")

    models = subparsers.add_parser("models", help="list the models (models/ and finished runs); * marks the default")
    models.add_argument("--json", action="store_true", help="one JSON object per line")

    flatbuffer = subparsers.add_parser("flatbuffer", help="(re)write the LiteRT flatbuffer of registered .keras files")
    flatbuffer.add_argument("models", nargs="+", help="registered .keras files; prints each card's new litert section")

    owner = subparsers.add_parser("owner-password", help="print the hash to set as the owner's password")
    owner.add_argument("--stdin", action="store_true", help="read the password from standard input")

    ensemble = subparsers.add_parser("ensemble", help="average finished runs' models into one model in models/")
    ensemble.add_argument("runs", nargs="+", help="finished runs (folders or run names) or models, two or more")
    ensemble.add_argument("--name", required=True, help="model name in models/")
    ensemble.add_argument("--replace", action="store_true", help="replace a model of that name (its version is kept)")

    from digitlab.cli.drawings import add_drawings_parser, run_drawings

    add_drawings_parser(subparsers)

    from digitlab.cli.explain import add_explain_parser, run_explain

    add_explain_parser(subparsers)

    args = parser.parse_args(argv)
    if not verbose and __name__ == "__main__":  # a real command line, not a test calling main()
        quiet_native_logs()
    if args.command == "drawings":
        return run_drawings(args)
    commands = {"train": run_train, "predict": run_predict, "evaluate": run_evaluate, "bench": run_bench_command,
                "promote": run_promote, "restore": run_restore, "models": run_models, "ensemble": run_ensemble,
                "owner-password": run_owner_password, "flatbuffer": run_flatbuffer, "explain": run_explain}
    return commands[args.command](args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the reader went away (`... --json | head`): what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error flushing stdout at exit
        sys.exit(0)
