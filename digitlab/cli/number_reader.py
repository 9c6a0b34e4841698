"""`python -m digitlab number-reader --out DIR [--register]`: train the learned number reader, measure it on
held-out writers, and register it as the reader that reads numbers (`--register-only`: one trained before)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_number_reader_parser(subparsers) -> None:
    reader = subparsers.add_parser("number-reader", help="train the learned number reader on numbers by the "
                                                          "training pen writers and UNIPEN institutions; measure it on the held-out ones'")
    reader.add_argument("--out", type=Path, default=Path("runs/number-reader"), help="a new folder for it")
    reader.add_argument("--numbers", type=int, default=30000, help="training numbers (1 to 8 digits)")
    reader.add_argument("--epochs", type=int, default=10)
    reader.add_argument("--measured", type=int, default=500, help="held-out numbers of each kind read after each epoch")
    reader.add_argument("--seed", type=int, default=0)
    reader.add_argument("--pen-digits", default=None, help="pendigits-orig.tra (default: ../shared/data's copy)")
    reader.add_argument("--register", action="store_true",
                        help="after training, register the reader as the one that reads numbers (models/number-readers/)")
    reader.add_argument("--register-only", action="store_true",
                        help="register the reader already trained in --out, without training")
    reader.add_argument("--replace", action="store_true", help="replace a registered reader (its version is kept)")
    reader.add_argument("--unipen", default=None, help="unipen-dev.tar.gz (default: ../shared/data's copy; "
                                                       "without it the reader learns from pendigits alone)")


def run_number_reader_command(args) -> int:
    if args.register_only:
        return register(args.out, args.replace)
    from digitlab.datasets.pendigits import pendigits_path, read_pendigits, split_by_writer
    from digitlab.datasets.unipen import as_pen_digits, unipen_digits, unipen_path
    from digitlab.store.atomic import file_sha256
    from digitlab.training.number_reader import train_number_reader

    pen_digits = args.pen_digits or pendigits_path()
    if pen_digits is None or not Path(pen_digits).is_file():
        print("error: the number reader learns from pendigits-orig.tra; give --pen-digits "
              "(see ../shared/data/README.md).", file=sys.stderr)
        return 2
    if min(args.numbers, args.epochs, args.measured) < 1:
        print("error: --numbers, --epochs and --measured must be at least 1.", file=sys.stderr)
        return 2
    unipen = args.unipen or unipen_path()
    if args.unipen and not Path(args.unipen).is_file():
        print(f"error: {args.unipen} is not a file; give unipen-dev.tar.gz (see ../shared/data/README.md).",
              file=sys.stderr)
        return 2
    pen_training, pen_held_out = split_by_writer(read_pendigits(pen_digits))
    training, held_out = {"pen": pen_training}, {"pen": pen_held_out}
    if unipen is not None:  # training institutions' digits, checked or not; held-out ones checked only
        training["unipen"] = as_pen_digits(unipen_digits(unipen, held_out=False))
        held_out["unipen"] = as_pen_digits(unipen_digits(unipen, held_out=True, checked_only=True))
    data = {Path(path).name: file_sha256(path) for path in (pen_digits, unipen) if path is not None}
    command = (f"python -m digitlab number-reader --out {args.out} --numbers {args.numbers} --epochs {args.epochs} "
               f"--measured {args.measured} --seed {args.seed}")
    try:
        figures = train_number_reader(args.out, training, held_out, args.numbers, args.epochs, args.measured,
                                      args.seed, report=lambda line: print(line, file=sys.stderr),
                                      provenance={"command": command, "data_sha256": data})
    except FileExistsError:
        print(f"error: {args.out} already exists; give a new --out folder.", file=sys.stderr)
        return 2
    print(json.dumps(figures))
    return register(args.out, args.replace) if args.register else 0


def register(folder: Path, replace: bool) -> int:
    from digitlab.store.number_readers import ReaderFolderError, register_number_reader
    from digitlab.store.registry import ModelExistsError

    try:
        entry = register_number_reader(folder, replace=replace)
    except (ReaderFolderError, ModelExistsError) as error:
        hint = " Give --replace to replace it." if isinstance(error, ModelExistsError) else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return 2
    litert = entry.card.get("litert") or {}
    served = "served by LiteRT" if litert.get("sha256") else f"NOT served: {litert.get('error', 'no flatbuffer')}"
    print(f"Registered {entry.path} (version {entry.card['version']}) as the number reader, {served}.", file=sys.stderr)
    return 0
