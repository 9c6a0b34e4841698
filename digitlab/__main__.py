"""The command line: `python -m digitlab train|predict|evaluate|bench|explain`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_train_parser(subparsers) -> None:
    from digitlab.models import ARCHITECTURES, DEFAULT_ARCHITECTURE
    from digitlab.train import TrainConfig

    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model into a run folder")
    parser.add_argument("--arch", default=DEFAULT_ARCHITECTURE, choices=list(ARCHITECTURES))
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=defaults.augment)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--limit", type=int, default=None, help="train on only this many MNIST images")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for TensorFlow")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a new one under the runs folder)")
    parser.add_argument("--teacher", default=None, help="a registered .keras model to distil from (e.g. an ensemble)")
    parser.add_argument("--teacher-weight", type=float, default=defaults.teacher_weight,
                        help="share of each target taken from the teacher's probabilities")


def run_train(args) -> int:
    from digitlab.train import TrainConfig, run_training

    config = TrainConfig(arch=args.arch, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         augment=args.augment, seed=args.seed, limit=args.limit, threads=args.threads,
                         teacher=args.teacher, teacher_weight=args.teacher_weight)
    try:
        config.validate()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out
    if out is None:
        from digitlab.jobs import new_run_dir

        out = new_run_dir(config.arch)
    status = run_training(config, out)
    print(json.dumps({"run": str(out), **{k: status.get(k) for k in ("state", "test_accuracy", "message")}}))
    return 0 if status.get("state") in ("done", "stopped") else 1


def load_predictor_or_exit(model: Path | None):
    """The Predictor for --model (or the active default); None after printing why it cannot load."""
    from digitlab.inference import Predictor
    from digitlab.registry import ModelLoadError, load_entry, resolve_model

    try:
        return Predictor(load_entry(resolve_model(model)))
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def run_predict(args) -> int:
    from digitlab.images import ImageRejectedError, read_image_file

    predictor = load_predictor_or_exit(args.model)
    if predictor is None:
        return 2
    failures = 0
    for file in args.files:
        try:
            prediction = predictor.predict_image(read_image_file(file))
        except (ImageRejectedError, ValueError) as error:
            failures += 1
            result = {"file": str(file), "error": str(error)}
        else:
            result = {"file": str(file), **prediction.to_json()}
            if prediction.digit is None:
                result["message"] = prediction.message
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{file}: error: {result['error']}", flush=True)
        elif result["digit"] is None:
            print(f"{file}: no digit ({result['message']})", flush=True)
        else:
            print(f"{file}: {result['digit']} ({max(result['probabilities']):.1%})", flush=True)
    return 1 if failures else 0


def run_evaluate(args) -> int:
    from digitlab.data import MnistUnavailableError, load_mnist
    from digitlab.evaluate import evaluate_model
    from digitlab.registry import resolve_model

    predictor = load_predictor_or_exit(args.model)
    if predictor is None:
        return 2
    try:
        mnist = load_mnist()
    except MnistUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    evaluation = evaluate_model(predictor, mnist, model_sha256=resolve_model(args.model).sha256)
    result = evaluation.to_json()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"MNIST test accuracy: {result['accuracy']:.2%} ({result['errors']} errors in {result['n']})")
        for row in result["per_class"]:
            print(f"  {row['digit']}: precision {row['precision']:.4f}  recall {row['recall']:.4f}  support {row['support']}")
    return 0


def run_bench_command(args) -> int:
    from digitlab.bench import run_bench
    from digitlab.data import MnistUnavailableError
    from digitlab.registry import ModelLoadError

    load = [int(n) for n in args.load.split(",")] if args.load else None
    try:
        report = run_bench(args.model, quick=args.quick, load_clients=load, while_training=args.while_training)
    except (ModelLoadError, MnistUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def run_promote(args) -> int:
    from digitlab.registry import ModelLoadError, promote_run

    try:
        entry = promote_run(args.run, args.name)
    except (ModelLoadError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"name": entry.name, "path": str(entry.path), "sha256": entry.sha256}))
    return 0


def run_ensemble(args) -> int:
    from digitlab.data import MnistUnavailableError
    from digitlab.ensemble import create_ensemble
    from digitlab.registry import ModelLoadError

    try:
        entry = create_ensemble(args.runs, args.name)
    except (ModelLoadError, MnistUnavailableError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"name": entry.name, "path": str(entry.path), "sha256": entry.sha256,
                      "mnist_test_accuracy": entry.test_accuracy}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitlab", description="DigitLab: handwritten digits with Keras.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_train_parser(subparsers)

    predict = subparsers.add_parser("predict", help="predict the digit in image files (PNG or JPEG)")
    predict.add_argument("files", nargs="+", type=Path)
    predict.add_argument("--model", type=Path, default=None, help="a registered .keras file (default: the active model)")
    predict.add_argument("--json", action="store_true", help="one JSON object per line")

    evaluate = subparsers.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix on MNIST test")
    evaluate.add_argument("--model", type=Path, default=None)
    evaluate.add_argument("--json", action="store_true")

    bench = subparsers.add_parser("bench", help="measure accuracy (MNIST, real pen drawings), speed and memory")
    bench.add_argument("--model", type=Path, default=None)
    bench.add_argument("--json", action="store_true", help="one line of JSON")
    bench.add_argument("--quick", action="store_true", help="small samples: a smoke run, not figures to record")
    bench.add_argument("--load", default=None, help="concurrent clients to simulate, e.g. 1,4,16")
    bench.add_argument("--while-training", action="store_true", help="also measure while a training run is active")

    promote = subparsers.add_parser("promote", help="copy a finished run's model into models/ and make it active")
    promote.add_argument("run", type=Path, help="the run folder")
    promote.add_argument("--name", default=None, help="model name in models/ (default: the run folder's name)")

    ensemble = subparsers.add_parser("ensemble", help="average finished runs' models into one model in models/")
    ensemble.add_argument("runs", nargs="+", type=Path, help="run folders of finished runs (two or more)")
    ensemble.add_argument("--name", required=True, help="model name in models/")

    from digitlab.explain_cli import add_explain_parser, run_explain

    add_explain_parser(subparsers)

    args = parser.parse_args(argv)
    commands = {"train": run_train, "predict": run_predict, "evaluate": run_evaluate, "bench": run_bench_command,
                "promote": run_promote, "ensemble": run_ensemble,
                "explain": run_explain}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
