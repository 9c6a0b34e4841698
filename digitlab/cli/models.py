"""`python -m digitlab models|promote|restore|set-default|flatbuffer`, and how every command names and loads a model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MODEL_HELP = "a registered model's name (see `models`), a run folder, or a registered .keras file (default: the active model)"


def load_predictor_or_exit(model: str | None):
    """The Predictor for --model (or the active default); None after printing why it cannot load."""
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import ModelLoadError, resolve_model

    try:
        return load_serving_predictor(resolve_model(model))  # its LiteRT flatbuffer: no TensorFlow
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def registered_json(entry) -> dict:
    """What the CLI prints about a model it has just written into models/."""
    return {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256, "version": entry.card.get("version")}


def add_promote_parser(subparsers) -> None:
    promote = subparsers.add_parser("promote", help="copy a finished run's model into models/ and make it the default")
    promote.add_argument("run", type=Path, help="the run folder (or its name under the runs folder)")
    promote.add_argument("--name", default=None, help="model name in models/ (default: the run folder's name)")
    promote.add_argument("--replace", action="store_true",
                         help="replace a model of that name (its current version is kept and can be restored)")
    promote.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=True,
                         help="make it the model everyone gets (default: yes)")


def add_restore_parser(subparsers) -> None:
    restore = subparsers.add_parser("restore", help="make an earlier version of a model in models/ current again")
    restore.add_argument("name", help="the model's name")
    restore.add_argument("--version", type=int, required=True, help="the version to restore (see `models --json`)")
    restore.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=False,
                         help="also make it the model everyone gets")


def add_set_default_parser(subparsers) -> None:
    chooser = subparsers.add_parser("set-default", help="make a model in models/ the one everyone gets")
    chooser.add_argument("name", help="the model's name as `models` lists it (e.g. default, the shipped model)")


def add_models_parser(subparsers) -> None:
    models = subparsers.add_parser("models", help="list the models (models/ and finished runs); * marks the default")
    models.add_argument("--json", action="store_true", help="one JSON object per line")


def add_flatbuffer_parser(subparsers) -> None:
    flatbuffer = subparsers.add_parser("flatbuffer", help="(re)write the LiteRT flatbuffer of registered .keras files")
    flatbuffer.add_argument("models", nargs="+", help="registered .keras files; prints each card's new litert section")


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


def run_set_default(args) -> int:
    from digitlab.store.registry import ModelLoadError, find_entry, set_active_model

    entry = find_entry(args.name)
    try:
        if entry is None or entry.name.startswith("run:"):
            raise ModelLoadError(f"There is no model '{args.name}' in models/ (see `python -m digitlab models`); "
                                 "promote a run first to make it the default.")
        if not entry.usable:
            raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
        set_active_model(entry.name)
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({**registered_json(entry), "default": True}))
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
