"""`python -m digitlab evaluate [--dataset mnist|drawings]`: accuracy and per-class metrics of a model."""

from __future__ import annotations

import json
import sys

from digitlab.cli.models import MODEL_HELP, load_predictor_or_exit


def add_evaluate_parser(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix on MNIST test")
    evaluate.add_argument("--model", default=None, help=MODEL_HELP)
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--dataset", choices=["mnist", "drawings"], default="mnist",
                          help="MNIST test (default) or the labelled drawings in the drawing bank")
    evaluate.add_argument("--writer", default=None, help="with --dataset drawings: only this writer's drawings")


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
        from digitlab.store.shares import percent

        print(f"{dataset} accuracy: {percent(result['accuracy'])} ({result['errors']:,} errors in {result['n']:,})")
        for row in result["per_class"]:
            print(f"  {row['digit']}: precision {row['precision']:.4f}  recall {row['recall']:.4f}  support {row['support']}")
