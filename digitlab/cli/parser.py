"""The command line's parser, each command's flags added by its group's module, and main(), which runs one.

    python -m digitlab train|predict|evaluate|bench|models|promote|restore|set-default|flatbuffer|owner-password|ensemble|sweep|recipe|number-reader|drawings|explain

Each group's module imports only what its parser needs at the top and the rest when its command runs,
so that `python -m digitlab predict` starts without TensorFlow, Streamlit or the benchmarks.
"""

from __future__ import annotations

import argparse
import os
import sys

from digitlab.cli import (access, bench, drawings, evaluate, explain, models, number_reader, predict, recipe, sweep,
                          train)

VERBOSE_FLAG = "--verbose"

COMMANDS = {  # each command's body, by the name its parser is added under
    "train": train.run_train, "predict": predict.run_predict, "evaluate": evaluate.run_evaluate,
    "bench": bench.run_bench_command, "promote": models.run_promote, "restore": models.run_restore,
    "models": models.run_models, "set-default": models.run_set_default, "flatbuffer": models.run_flatbuffer, "owner-password": access.run_owner_password,
    "ensemble": train.run_ensemble, "drawings": drawings.run_drawings, "explain": explain.run_explain,
    "sweep": sweep.run_sweep_command, "recipe": recipe.run_recipe_command,
    "number-reader": number_reader.run_number_reader_command,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m digitlab", description="DigitLab: handwritten digits with Keras.")
    parser.add_argument(VERBOSE_FLAG, action="store_true", help="show TensorFlow's and LiteRT's own log lines")
    subparsers = parser.add_subparsers(dest="command", required=True)
    # In the order `--help` lists them.
    train.add_train_parser(subparsers)
    predict.add_predict_parser(subparsers)
    evaluate.add_evaluate_parser(subparsers)
    bench.add_bench_parser(subparsers)
    models.add_promote_parser(subparsers)
    models.add_restore_parser(subparsers)
    models.add_set_default_parser(subparsers)
    models.add_models_parser(subparsers)
    models.add_flatbuffer_parser(subparsers)
    access.add_owner_password_parser(subparsers)
    train.add_ensemble_parser(subparsers)
    sweep.add_sweep_parser(subparsers)
    recipe.add_recipe_parser(subparsers)
    number_reader.add_number_reader_parser(subparsers)
    drawings.add_drawings_parser(subparsers)
    explain.add_explain_parser(subparsers)
    parser.set_defaults(command_parsers=subparsers.choices)
    return parser


def quiet_native_logs() -> None:
    """Keep TensorFlow's and LiteRT's start-up chatter off the terminal; DigitLab's own errors still show.

    Their C++ code writes straight to file descriptor 2, so that descriptor goes to /dev/null and Python's
    sys.stderr is moved to a copy of the real one.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        real_stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = os.fdopen(real_stderr, "w", buffering=1)


def main(argv: list[str] | None = None, quiet_logs: bool = False) -> int:
    """Run the command on argv (default: this process's); its exit status.

    quiet_logs: keep native log lines off the terminal unless --verbose is given. A real command line
    asks for it (digitlab/__main__.py); a test calling main() keeps its own stderr untouched.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = VERBOSE_FLAG in argv
    argv = [arg for arg in argv if arg != VERBOSE_FLAG]  # accepted anywhere on the line
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # said by the command's own parser, so the usage shown is that command's options
        args.command_parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if quiet_logs and not verbose:
        quiet_native_logs()
    return COMMANDS[args.command](args)
