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
    reader.add_argument("--not-numbers", type=int, default=12000,
                        help="training lines that are no number (words by UNIPEN's training writers, rows of "
                             "doodles), from which it learns to say \"not a number\"")
    reader.add_argument("--mnist-numbers", type=int, default=0,
                        help="training numbers of MNIST's training digits, e.g. 10000 (needs MNIST: $DIGITLAB_MNIST); "
                             "none by default, so a card's recorded command trains the same reader again")
    reader.add_argument("--epochs", type=int, default=10)
    reader.add_argument("--from", dest="start_from", type=Path, default=None,
                        help="a number reader trained before (.keras) to train further, e.g. "
                             "models/number-readers/default.keras")
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
    from digitlab.datasets.pendigits import pen_digits_refusal, pendigits_path, read_pendigits, split_by_writer
    from digitlab.datasets.unipen import as_pen_digits, is_held_out, read_unipen, unipen_digits, unipen_path
    from digitlab.store.atomic import file_sha256
    from digitlab.store.number_readers import trained_from
    from digitlab.training.number_reader import train_number_reader

    pen_digits = args.pen_digits or pendigits_path()
    if pen_digits is None or not Path(pen_digits).is_file():
        print("error: the number reader learns from pendigits-orig.tra; give --pen-digits "
              "(see ../shared/data/README.md).", file=sys.stderr)
        return 2
    if min(args.numbers, args.epochs, args.measured) < 1 or min(args.not_numbers, args.mnist_numbers) < 0:
        print("error: --numbers, --epochs and --measured must be at least 1, --not-numbers and --mnist-numbers at "
              "least 0.", file=sys.stderr)
        return 2
    if args.out.exists():  # said before any data is read
        print(f"error: {args.out} already exists; give a new --out folder.", file=sys.stderr)
        return 2
    refusal = pen_digits_refusal(str(pen_digits))  # no trainable pen digits: it would train on doodles and UNIPEN alone
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    mnist = None
    if args.mnist_numbers:
        from digitlab.datasets.mnist import MnistUnavailableError, load_mnist

        try:
            mnist = load_mnist(allow_download=False)
        except MnistUnavailableError as error:
            print(f"error: --mnist-numbers needs MNIST: {error} Or give --mnist-numbers 0.", file=sys.stderr)
            return 2
    if args.start_from is not None and not args.start_from.is_file():
        print(f"error: {args.start_from} is not a file; give a number reader's .keras file to --from.",
              file=sys.stderr)
        return 2
    unipen = args.unipen or unipen_path()
    if args.unipen and not Path(args.unipen).is_file():
        print(f"error: {args.unipen} is not a file; give unipen-dev.tar.gz (see ../shared/data/README.md).",
              file=sys.stderr)
        return 2
    pen_training, pen_held_out = split_by_writer(read_pendigits(pen_digits))
    training, held_out = {"pen": pen_training}, {"pen": pen_held_out}
    letters = ([], [])  # without UNIPEN, the lines that are no number are rows of doodles alone
    if unipen is not None:  # training institutions' digits, checked or not; held-out ones checked only
        training["unipen"] = as_pen_digits(unipen_digits(unipen, held_out=False))
        held_out["unipen"] = as_pen_digits(unipen_digits(unipen, held_out=True, checked_only=True))
        characters = read_unipen(unipen)  # words take any letters, as real words have o's and l's too
        letters = ([c for c in characters if not is_held_out(c)], [c for c in characters if is_held_out(c)])
    data = {Path(path).name: file_sha256(path) for path in (pen_digits, unipen) if path is not None}
    if mnist is not None:
        data[Path(mnist.source).name] = file_sha256(mnist.source)
    command = (f"python -m digitlab number-reader --out {args.out} --numbers {args.numbers} "
               f"--not-numbers {args.not_numbers} --mnist-numbers {args.mnist_numbers} --epochs {args.epochs} "
               f"--measured {args.measured} --seed {args.seed}"
               + (f" --from {args.start_from}" if args.start_from else ""))
    provenance = {"command": command, "data_sha256": data}
    if args.start_from is not None:
        provenance["started_from"] = trained_from(args.start_from)
    try:
        figures = train_number_reader(args.out, training, held_out, args.numbers, args.epochs, args.measured,
                                      args.seed, report=lambda line: print(line, file=sys.stderr),
                                      provenance=provenance, letters=letters, not_numbers=args.not_numbers,
                                      start_from=args.start_from, mnist=mnist, mnist_numbers=args.mnist_numbers)
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
