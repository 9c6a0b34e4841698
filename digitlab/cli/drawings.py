"""`python -m digitlab drawings add|list|export|import|delete` and `evaluate --dataset drawings`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_drawings_parser(subparsers) -> None:
    parser = subparsers.add_parser("drawings", help="the drawing bank: add, list, export, import, delete drawings")
    actions = parser.add_subparsers(dest="drawings_action", required=True)

    add = actions.add_parser("add", help="store image files (PNG or JPEG) of one digit each, with their label")
    add.add_argument("files", nargs="+", type=Path)
    add.add_argument("--label", required=True, help="the digit the files show, 0-9")
    add.add_argument("--writer", default=None, help="who drew them (a name or tag)")
    add.add_argument("--model", type=Path, default=None,
                     help="the model whose reading is stored with each drawing (default: the active model)")
    add.add_argument("--json", action="store_true", help="one JSON object per line")

    listing = actions.add_parser("list", help="the drawings in the bank, newest first")
    listing.add_argument("--writer", default=None)
    listing.add_argument("--label", default=None)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    export = actions.add_parser("export", help="write the bank as a zip of PNGs, labels.csv and strokes.json")
    export.add_argument("out", type=Path)

    imports = actions.add_parser("import", help="import a zip from `drawings export`, or UNIPEN pen-digit text; "
                                                "drawings the bank holds already are skipped")
    imports.add_argument("file", type=Path)
    imports.add_argument("--writers", default=None,
                         help="UNIPEN only: the writer numbers to import, e.g. 1-20 or 1,2,5")

    remove = actions.add_parser("delete", help="delete drawings by id, for good (no undo)")
    remove.add_argument("ids", nargs="+", type=int)


def run_drawings(args) -> int:
    from digitlab.bank.drawing_checks import DrawingRejectedError
    from digitlab.bank.engine import DrawingBankError
    from digitlab.bank.repository import open_bank

    actions = {"add": _add, "list": _list, "export": _export, "import": _import, "delete": _delete}
    try:
        return actions[args.drawings_action](args, open_bank())
    except (DrawingBankError, DrawingRejectedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _add(args, bank) -> int:
    from digitlab.bank.drawing_checks import DrawingRejectedError, check_digit, check_tag, prepare_drawing
    from digitlab.bank.engine import DrawingBankError

    label = check_digit(args.label)  # a bad label or writer refuses every file before any is read
    writer = check_tag(args.writer, "writer")
    predictor, sha256 = _reader(args.model)
    failures = 0
    for file in args.files:
        try:
            drawing = prepare_drawing(_read_file(file), label, "upload", writer=writer)
            if predictor is not None:
                probabilities = predictor.predict_mnist(drawing.mnist[None])[0]
                drawing = _with_reading(drawing, probabilities, sha256)
            result = {"file": str(file), "id": bank.add(drawing), "label": label}
        except (DrawingRejectedError, DrawingBankError) as error:
            failures += 1
            result = {"file": str(file), "error": str(error)}
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{file}: error: {result['error']}", flush=True)
        else:
            print(f"{file}: stored as drawing {result['id']} (label {label})", flush=True)
    return 1 if failures else 0


def _with_reading(drawing, probabilities, sha256: str | None):
    from dataclasses import replace

    from digitlab.bank.drawing_checks import check_probabilities

    return replace(drawing, reading=int(probabilities.argmax()), probabilities=check_probabilities(probabilities),
                   model_sha256=sha256)


def _reader(model: Path | None):
    """(the Predictor, its model's sha256) to read new drawings with, or (None, None) after saying why not."""
    from digitlab.bank.drawing_checks import DrawingRejectedError
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import ModelLoadError, resolve_model

    try:
        entry = resolve_model(model)
        return load_serving_predictor(entry), entry.sha256  # as the Draw page reads: its flatbuffer where it has one
    except ModelLoadError as error:
        if model is not None:  # the model asked for by name must be there; nothing is stored without it
            raise DrawingRejectedError(str(error)) from error
        print(f"note: storing the drawings without the model's reading ({error})", file=sys.stderr)
        return None, None


def _read_file(path: Path) -> bytes:
    """A file's bytes, refused with a message when it is missing, not a file, or too big to be an image."""
    from digitlab.bank.drawing_checks import DrawingRejectedError
    from digitlab.serving.images import MAX_FILE_BYTES

    if path.is_dir() or (path.exists() and not path.is_file()):
        raise DrawingRejectedError(f"{path} is not a regular file.")
    try:
        with open(path, "rb") as file:
            return file.read(MAX_FILE_BYTES + 1)  # one byte more than allowed: decoding then refuses it as too big
    except FileNotFoundError:
        raise DrawingRejectedError(f"{path} does not exist.") from None
    except OSError as error:
        raise DrawingRejectedError(f"{path} cannot be read ({error.strerror or error}).") from error


def _list(args, bank) -> int:
    from digitlab.bank.drawing_checks import check_digit
    from digitlab.bank.records import DrawingFilter

    label = None if args.label is None else check_digit(args.label)
    for drawing in bank.drawings(DrawingFilter(label=label, writer=args.writer)):
        row = drawing.to_json()
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            reading = "" if drawing.reading is None else f", read as {drawing.reading}"
            print(f"{drawing.id}: label {drawing.label}{reading} · {drawing.source} · {drawing.writer or '-'} · "
                  f"{drawing.created_at:%Y-%m-%d %H:%M}", flush=True)
    return 0


def _export(args, bank) -> int:
    from digitlab.bank.archive import export_zip

    try:
        count = export_zip(bank, args.out)
    except OSError as error:
        print(f"error: {args.out} cannot be written ({error.strerror or error}).", file=sys.stderr)
        return 2
    print(json.dumps({"path": str(args.out), "drawings": count}))
    return 0


def _import(args, bank) -> int:
    from digitlab.bank.archive import import_file
    from digitlab.bank.drawing_checks import DrawingRejectedError

    report = import_file(bank, args.file, writers=_writer_numbers(args.writers) if args.writers else None)
    if args.writers and not (report.added or report.already_in_bank or report.problems):
        raise DrawingRejectedError(f"{args.file} holds no digit by the writers {args.writers}: nothing was imported.")
    print(json.dumps({"file": str(args.file), **report.to_json()}))
    print(f"{args.file}: {report.summary()}", file=sys.stderr)  # "0 new, 7,494 already in the bank" for people
    if not report.added and not report.already_in_bank and report.problems:
        raise DrawingRejectedError(f"Nothing in {args.file} could be imported: {report.problems[0]}")
    return 1 if report.problems else 0


MAX_WRITER_NUMBER = 100_000  # far past any file's writers (UNIPEN's 485 files); a larger range is a typo


def _writer_numbers(text: str) -> list[int]:
    """'1-20' or '1,2,5' (or both: '1-3,7') as writer numbers."""
    from digitlab.bank.drawing_checks import DrawingRejectedError

    numbers = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high or low)
            if not (0 <= first <= last <= MAX_WRITER_NUMBER):
                raise ValueError(part)
            numbers.extend(range(first, last + 1))
    except ValueError:
        raise DrawingRejectedError(f"--writers {text!r}: use numbers from 0 to {MAX_WRITER_NUMBER:,} and ranges such "
                                   "as 1-20 or 1,2,5.") from None
    return numbers


def _delete(args, bank) -> int:
    # An id past the database's 64-bit integers names no drawing (and would make the driver raise).
    missing = [drawing_id for drawing_id in args.ids if not (0 < drawing_id < 2**63) or not bank.delete(drawing_id)]
    print(json.dumps({"deleted": len(args.ids) - len(missing), "missing": missing}))
    return 1 if missing else 0


def run_evaluate_drawings(args, predictor, model_sha256: str | None, print_evaluation) -> int:
    """evaluate --dataset drawings: the model on the bank's labelled drawings (of one writer, with --writer)."""
    from digitlab.bank.engine import DrawingBankError
    from digitlab.bank.repository import open_bank
    from digitlab.evaluation.bank_scores import evaluate_drawings

    try:
        dataset = open_bank().as_dataset(writer=args.writer)
        evaluation = evaluate_drawings(predictor, dataset, model_sha256)
    except DrawingBankError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    who = f" by writer {args.writer}" if args.writer else ""
    if not len(dataset):
        print(f"error: the drawing bank has no labelled drawings{who}.", file=sys.stderr)
        return 2
    result = {"dataset": "drawings", "writer": args.writer, "images": evaluation.n,
              "writers": len(set(dataset.writers)), **evaluation.to_json()}
    print_evaluation(result, f"Drawing bank{who}", args.json)
    return 0
