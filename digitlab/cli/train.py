"""`python -m digitlab train|ensemble`: a training run into a run folder, and finished runs averaged into a model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digitlab.cli.models import registered_json
from digitlab.store.run_config import ARCHITECTURE_NAMES, DEFAULT_ARCHITECTURE, TrainConfig


def add_train_parser(subparsers) -> None:
    defaults = TrainConfig()
    parser = subparsers.add_parser("train", help="train a model into a run folder")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="train the config.json already in this run folder (how the app launches runs)")
    parser.add_argument("--arch", default=DEFAULT_ARCHITECTURE, choices=list(ARCHITECTURE_NAMES))
    parser.add_argument("--width", type=int, default=None, help="digitnet's first filters (default: the shipped 32)")
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
    parser.add_argument("--unipen", default=None,
                        help="unipen-dev.tar.gz: add its training institutions' digits (never the held-out ones)")
    parser.add_argument("--unipen-copies", type=int, default=defaults.unipen_copies,
                        help="times each UNIPEN digit is drawn")
    parser.add_argument("--letter-copies", type=int, default=defaults.letter_copies,
                        help="with --unipen: draw each of its letters that no digit resembles this many times as "
                             "'not a digit'")
    parser.add_argument("--style-copies", type=int, default=defaults.style_copies,
                        help="add this many slashed-zero, barred-seven and footed-one copies of each pen 0, 7 and 1")
    parser.add_argument("--init-from", default=None, help="a registered model (name or path) to start from (fine-tune)")
    parser.add_argument("--init-member", type=int, default=None, help="which member of an ensemble --init-from to use")
    parser.add_argument("--bank-weight", type=int, default=0,
                        help="also train on the drawing bank (DIGITLAB_DATABASE_URL), each drawing this many times; "
                             "a quarter of its writers are held out to compare before and after. Fine-tune on the "
                             "bank: --init-from default --bank-weight 3 --limit 10000 --epochs 2 --lr 0.0003")


def add_ensemble_parser(subparsers) -> None:
    ensemble = subparsers.add_parser("ensemble", help="average finished runs' models into one model in models/")
    ensemble.add_argument("runs", nargs="+", help="finished runs (folders or run names) or models, two or more")
    ensemble.add_argument("--name", required=True, help="model name in models/")
    ensemble.add_argument("--replace", action="store_true", help="replace a model of that name (its version is kept)")


def run_train(args) -> int:
    from digitlab.store import run_folder as runs
    from digitlab.training.trainer import train_run

    if args.run_dir is not None:
        run_dir = args.run_dir
    else:
        config = TrainConfig(arch=args.arch, width=args.width, epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, augment=args.augment, seed=args.seed, limit=args.limit, threads=args.threads,
                             teacher=args.teacher, teacher_weight=args.teacher_weight, title=args.title,
                             pen_digits=args.pen_digits, pen_copies=args.pen_copies, non_digits=args.non_digits,
                             unipen=args.unipen, unipen_copies=args.unipen_copies,
                             letter_copies=args.letter_copies, style_copies=args.style_copies,
                             init_from=args.init_from, init_member=args.init_member,
                             bank_weight=args.bank_weight)
        try:
            from digitlab.datasets.pendigits import pen_digits_refusal
            from digitlab.store.registry import resolve_model

            refusal = pen_digits_refusal(config.pen_digits)
            if refusal:
                raise ValueError(refusal)
            for named in (config.teacher, config.init_from):  # a missing model is refused before a run folder is made
                if named is not None:
                    resolve_model(named)
            bank = None
            if config.bank_weight:
                from digitlab.bank.repository import open_bank
                from digitlab.bank.snapshot import snapshot_bank

                bank = snapshot_bank(open_bank())
            run_dir = runs.create_run(config, run_dir=args.out, bank=bank)
        except (ValueError, OSError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    status = train_run(run_dir)
    print(json.dumps({"run": str(run_dir), "state": status.state, "test_accuracy": status.test_accuracy,
                      "message": status.message, "warning": status.warning, "comparison": status.comparison}))
    return 0 if status.state in ("done", "stopped") else 1


def run_ensemble(args) -> int:
    from digitlab.datasets.mnist import MnistUnavailableError
    from digitlab.store.registry import ModelLoadError
    from digitlab.training.ensemble import create_ensemble

    try:
        entry = create_ensemble(args.runs, args.name, replace=args.replace)
    except (ModelLoadError, MnistUnavailableError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({**registered_json(entry), "mnist_test_accuracy": entry.test_accuracy}))
    return 0
