"""`python -m digitlab explain FILE... [--model NAME] [--json]`: why the model reads each file as it does."""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab.cli.models import MODEL_HELP


def add_explain_parser(subparsers) -> None:
    parser = subparsers.add_parser("explain", help="explain the reading of image files: saliency, nearest "
                                                   "MNIST training digits, layer shapes, what-if readings")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--neighbours", type=int, default=8, help="nearest training digits to list (at least 1)")


def _index_progress(done: int, total: int) -> None:
    print(f"\rEmbedding the MNIST training digits for this model (once): {done:,}/{total:,}",
          end="\n" if done == total else "", file=sys.stderr, flush=True)


def run_explain(args) -> int:
    from digitlab.datasets.mnist import MnistUnavailableError, load_mnist
    from digitlab.explain.explainer import Explainer
    from digitlab.explain.layers import ExplainError
    from digitlab.explain.neighbours import training_index
    from digitlab.cli.file_reports import report_each_file
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import ModelLoadError, load_entry, resolve_model

    if args.neighbours < 1:
        print("error: --neighbours must be at least 1.", file=sys.stderr)
        return 2
    try:
        entry = resolve_model(args.model)
        predictor = load_serving_predictor(entry)
        # Gradients need the Keras model itself; the Predictor may be serving a LiteRT flatbuffer.
        explainer = Explainer(predictor.model if predictor.model is not None else load_entry(entry))
        mnist = load_mnist()
    except (ModelLoadError, ExplainError, MnistUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    index = training_index(explainer, mnist, entry.sha256, progress=_index_progress)
    explainer = explainer.with_index(index)
    def read(image) -> dict:
        prediction = predictor.predict_image(image)
        if prediction.digit is None:
            return {**prediction.to_json(), "message": prediction.message}
        return explainer.explain(prediction.mnist, prediction.probabilities, predictor, args.neighbours).to_json()

    return report_each_file(args.files, read, describe, args.json)


def describe(result: dict) -> str:
    """One readable line for a person, from a result's JSON."""
    file = result["file"]
    if result["digit"] is None:
        return f"{file}: no digit ({result['message']})"
    neighbours = ", ".join(f"{n['label']} (#{n['index']}, {n['similarity']:.2f})" for n in result["neighbours"])
    fragile = [w["change"] for w in result["what_if"] if w["digit"] != result["digit"]]
    robust = "the same under every what-if change" if not fragile else f"changes when {', '.join(fragile)}"
    return (f"{file}: {result['digit']} ({max(result['probabilities']):.1%}); nearest training digits: {neighbours}; "
            f"reading {robust}")
