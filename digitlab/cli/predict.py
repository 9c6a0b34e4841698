"""`python -m digitlab predict FILE... [--number]`: the digit, or every digit of a number, in image files."""

from __future__ import annotations

from pathlib import Path

from digitlab.cli.models import MODEL_HELP, load_predictor_or_exit


def add_predict_parser(subparsers) -> None:
    predict = subparsers.add_parser("predict", help="predict the digit in image files (PNG or JPEG)")
    predict.add_argument("files", nargs="+", type=Path)
    predict.add_argument("--model", default=None, help=MODEL_HELP)
    predict.add_argument("--json", action="store_true", help="one JSON object per line")
    predict.add_argument("--number", action="store_true", help="read every digit of a number in each image")


def run_predict(args) -> int:
    from digitlab.cli.file_reports import report_each_file

    predictor = load_predictor_or_exit(args.model)
    if predictor is None:
        return 2
    if args.number:
        import sys

        from digitlab.serving.number_reading import load_number_reader, read_number

        reader, why_not = load_number_reader()
        if reader is None:  # numbers are still read, by cutting the ink into digits: say so, off stdout
            print(f"note: {why_not}; digits are found by cutting the ink apart.", file=sys.stderr)
        return report_each_file(args.files, lambda image: read_number(predictor, image, reader=reader).to_json(),
                                describe_number, args.json)

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
