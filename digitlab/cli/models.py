"""`python -m digitlab models|promote|restore|set-default|flatbuffer`, and how every command names and loads a model."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

MODEL_HELP = ("a model's name as `models` lists it (a run's given name, e.g. quick-1, or run:<folder>), a run folder, "
              "or a registered .keras file (default: the active model)")
# Off unless asked, as the Train page's box is: what every visitor reads with changes only on purpose.
DEFAULT_HELP = "also make it the model everyone gets (default: no; the model everyone gets stays as it is)"


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
    """What the CLI prints about a model it has just written into models/: the name it is registered under, and
    whether everyone now gets it (read back from models/, so it is true whatever the command did)."""
    return {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256, "version": entry.card.get("version"),
            "default": model_everyone_gets() == entry.name}


def add_promote_parser(subparsers) -> None:
    promote = subparsers.add_parser("promote", help="copy a finished run's model into models/ "
                                                    "(with --default, also make it the model everyone gets)")
    promote.add_argument("run", type=Path, help="the run folder, its name under the runs folder, or the name given "
                                                "to the run")
    promote.add_argument("--name", default=None, help="model name in models/ (default: the run folder's name)")
    promote.add_argument("--replace", action="store_true",
                         help="replace a model of that name (its current version is kept and can be restored)")
    promote.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=False,
                         help=DEFAULT_HELP)


def add_restore_parser(subparsers) -> None:
    restore = subparsers.add_parser("restore", help="make an earlier version of a model in models/ current again")
    restore.add_argument("name", help="the model's name")
    restore.add_argument("--version", type=int, required=True,
                         help="the version to restore (see `models --json`); the current one just stays current")
    restore.add_argument("--default", dest="make_default", action=argparse.BooleanOptionalAction, default=False,
                         help=DEFAULT_HELP)


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
    try:
        if not run_dir.is_dir():
            run_dir = run_named(str(args.run))
        entry = promote_run(run_dir, args.name, replace=args.replace, make_active=args.make_default)
    except ModelExistsError as error:
        print(f"error: {error} Add --replace to replace it.", file=sys.stderr)
        return 2
    except (ModelLoadError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(registered_json(entry)))
    note_who_gets_the_default(entry.name)
    return 0


def run_named(name: str) -> Path:
    """The folder of the finished run a person named by the name given to it; ModelLoadError when none or several."""
    from digitlab.store.model_names import RUN_PREFIX
    from digitlab.store.registry import ModelLoadError, NoSuchModelError, resolve_model

    bare = name.removeprefix(RUN_PREFIX).strip()
    try:
        entry = resolve_model(f"{RUN_PREFIX}{bare}")
    except NoSuchModelError:
        # Not "no model 'run:...'": a person gave a folder or a run's name, not a model's.
        raise ModelLoadError(f"There is no run folder {name} and no finished run named '{bare}'. "
                             "`python -m digitlab models` lists the finished runs (run:...) and their names.") from None
    if not entry.is_run:
        raise ModelLoadError(f"There is no run folder or finished run named {name}.")
    return entry.path.parent


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
    note_who_gets_the_default(entry.name)
    return 0


def model_everyone_gets() -> str:
    """The name of the model every visitor reads with (the active one, else the shipped default)."""
    from digitlab.store.registry import default_entry

    return default_entry().name


def note_who_gets_the_default(name: str) -> None:
    """After promote or restore without --default: say on stderr which model everyone still gets, and how to change it."""
    active = model_everyone_gets()
    if active != name:
        print(f"note: everyone still gets '{active}'. To give everyone '{name}': "
              f"python -m digitlab set-default {shlex.quote(name)}", file=sys.stderr)


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
    print(json.dumps(registered_json(entry)))
    return 0


def run_models(args) -> int:
    """Each model on a line: * for the default, its label (given name, start, architecture, accuracy), what --model takes."""
    from digitlab.store.model_names import given_name, model_argument
    from digitlab.store.registry import active_model_name, list_models

    active = active_model_name()
    entries = list_models()
    for entry in entries:
        row = {"name": entry.name, "given_name": given_name(entry), "label": entry.label,
               "model_argument": model_argument(entry, entries), "default": entry.name == active,
               "usable": entry.usable, "problem": entry.problem, "architecture": entry.card.get("architecture"),
               "mnist_test_accuracy": entry.test_accuracy, "version": entry.card.get("version"),
               "path": str(entry.path), "sha256": entry.sha256}
        if args.json:
            print(json.dumps(row))
        else:
            mark = "*" if row["default"] else " "
            # Quoted as a shell needs it: a run's given name may hold spaces or quotes, and is copied into commands.
            usage = (f"  [unusable: {entry.problem}]" if entry.problem
                     else f"  --model {shlex.quote(row['model_argument'])}")
            print(f"{mark} {entry.label:<60}{usage}")
    if not args.json:  # the JSON lines are digit models only, one per line, as --model takes them
        print(number_reader_line())
    return 0


def number_reader_line() -> str:
    """One line on the number reader that reads numbers (models/number-readers/), or why there is none."""
    from digitlab.store.number_readers import served_reader_entry

    entry = served_reader_entry()
    if entry is None:
        return "Numbers: no number reader is registered, so numbers are read by cutting the ink into digits."
    if not entry.usable:
        return f"Numbers: the number reader cannot be used ({entry.problem}); numbers are cut into digits."
    tight = ((entry.card.get("metrics") or {}).get("held_out_exact") or {}).get("pen_four_digits_tight")
    figure = f", held-out tight 4-digit numbers {tight:.1%}" if isinstance(tight, (int, float)) else ""
    return f"Numbers: read by the number reader {entry.path} (version {entry.card.get('version')}{figure})."


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
        try:
            section = write_flatbuffer(entry.path, entry.sha256, lambda: load_keras_model(entry.path, entry.sha256))
        except OSError as error:  # a read-only or full models folder
            print(f"error: {path}: its flatbuffer could not be written ({error.strerror or error}).", file=sys.stderr)
            failures += 1
            continue
        failures += "error" in section[CARD_KEY]
        print(json.dumps({"model": str(entry.path), **section}))
    return 1 if failures else 0
