"""`python -m digitlab number-reader --out DIR`: train the learned number reader and measure it on held-out writers."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_number_reader_parser(subparsers) -> None:
    reader = subparsers.add_parser("number-reader", help="train the learned number reader (not yet served) on "
                                                          "the training pen writers' numbers; measure it on the held-out writers'")
    reader.add_argument("--out", type=Path, default=Path("runs/number-reader"), help="a new folder for it")
    reader.add_argument("--numbers", type=int, default=30000, help="training numbers (1 to 8 digits)")
    reader.add_argument("--epochs", type=int, default=12)
    reader.add_argument("--measured", type=int, default=500, help="held-out numbers of each kind read after each epoch")
    reader.add_argument("--seed", type=int, default=0)
    reader.add_argument("--pen-digits", default=None, help="pendigits-orig.tra (default: ../shared/data's copy)")


def run_number_reader_command(args) -> int:
    from digitlab.datasets.pendigits import pendigits_path, read_pendigits, split_by_writer
    from digitlab.training.number_reader import train_number_reader

    pen_digits = args.pen_digits or pendigits_path()
    if pen_digits is None or not Path(pen_digits).is_file():
        print("error: the number reader learns from pendigits-orig.tra; give --pen-digits "
              "(see ../shared/data/README.md).", file=sys.stderr)
        return 2
    if min(args.numbers, args.epochs, args.measured) < 1:
        print("error: --numbers, --epochs and --measured must be at least 1.", file=sys.stderr)
        return 2
    training, held_out = split_by_writer(read_pendigits(pen_digits))
    try:
        figures = train_number_reader(args.out, training, held_out, args.numbers, args.epochs, args.measured,
                                      args.seed, report=lambda line: print(line, file=sys.stderr))
    except FileExistsError:
        print(f"error: {args.out} already exists; give a new --out folder.", file=sys.stderr)
        return 2
    print(json.dumps(figures))
    return 0
