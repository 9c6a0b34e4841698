"""`python -m digitlab sweep`: an Optuna sweep over a training recipe, one JSON line per finished trial.

    python -m digitlab sweep --trials 20 --parallel 2 --param lr=1e-4:3e-3:log --param width=16,32,48 \\
        --epochs 2 --limit 10000 [--dask tcp://host:8786] [--study NAME]

Naming an existing study resumes it: its recipe and parameters are the ones it was made with, its trial
numbers go on, and --trials, --parallel and --dask may be changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from digitlab.store.run_config import ARCHITECTURE_NAMES
from digitlab.training.sweeps.defaults import DEFAULT_PARALLEL, DEFAULT_TRIALS

RECIPE_FLAGS = ("arch", "width", "epochs", "limit", "batch_size", "lr", "augment", "seed", "threads")


def at_least_one(text: str) -> int:
    """An argparse type: a whole number from 1 up, so that --trials 0 or --parallel 0 is refused, not taken
    for the option left out."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def add_sweep_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="search training settings with Optuna: trials run here or on Dask")
    parser.add_argument("--study", default=None, help="the sweep's name; an existing one is resumed "
                                                      "(default: a new sweep-DATE-TIME)")
    parser.add_argument("--trials", type=at_least_one, default=None,
                        help=f"trials in the sweep in all (default {DEFAULT_TRIALS})")
    parser.add_argument("--parallel", type=at_least_one, default=None,
                        help=f"trials at once (default {DEFAULT_PARALLEL})")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=LOW:HIGH[:log] | NAME=A,B,C",
                        help="a setting to search, e.g. lr=1e-4:3e-3:log or width=16,32,48 (repeat for more)")
    parser.add_argument("--dask", default=None, metavar="tcp://HOST:PORT",
                        help="run the trials on this Dask scheduler's workers (default: $DIGITLAB_DASK_SCHEDULER, "
                             "else processes on this machine)")
    recipe = parser.add_argument_group("the recipe every trial starts from (a new sweep only)")
    recipe.add_argument("--arch", default=None, choices=list(ARCHITECTURE_NAMES))
    recipe.add_argument("--width", type=int, default=None, help="digitnet's first filters")
    recipe.add_argument("--epochs", type=int, default=None)
    recipe.add_argument("--limit", type=int, default=None, help="train on only this many MNIST images")
    recipe.add_argument("--batch-size", type=int, default=None)
    recipe.add_argument("--lr", type=float, default=None)
    recipe.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    recipe.add_argument("--seed", type=int, default=None)
    recipe.add_argument("--threads", type=int, default=None, help="CPU threads per trial (default: cores / parallel "
                                                                  "here, the worker's choice on Dask)")


def run_sweep_command(args) -> int:
    from digitlab.config.secrets import ConfigurationError
    from digitlab.training.run_lock import TrainingBusyError
    from digitlab.training.sweeps import study_store as store
    from digitlab.training.sweeps.driver import drive_sweep
    from digitlab.training.sweeps.executors import configured_scheduler

    try:
        storage = store.open_storage()
        scheduler = configured_scheduler(args.dask)
        name = args.study or time.strftime("sweep-%Y%m%d-%H%M%S")
        if args.study and args.study in {study.study_name for study in storage.get_all_studies()}:
            _resume(storage, name, args, scheduler)
        else:
            _create(storage, name, args, scheduler)
        outcome = drive_sweep(name, storage, emit=lambda line: print(json.dumps(line), flush=True))
    except (ValueError, TrainingBusyError, ConfigurationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_summary(storage, name, outcome), file=sys.stderr)
    return 0 if outcome == "finished" else 1


def _create(storage, name: str, args, scheduler: str | None) -> None:
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.sweeps.launch import new_sweep
    from digitlab.training.sweeps.study_store import SweepSpec

    recipe = {flag: getattr(args, flag) for flag in RECIPE_FLAGS if getattr(args, flag) is not None}
    spec = SweepSpec(base=TrainConfig(**recipe), params=list(args.param),
                     trials=DEFAULT_TRIALS if args.trials is None else args.trials,
                     parallel=DEFAULT_PARALLEL if args.parallel is None else args.parallel, dask=scheduler)
    spec.base.validate()
    new_sweep(storage, name, spec)


def _resume(storage, name: str, args, scheduler: str | None) -> None:
    """Resume a sweep as it was made; only how many trials, how many at once and where may change."""
    from dataclasses import replace

    from digitlab.training.sweeps import study_store as store
    from digitlab.training.sweeps.launch import check_trials

    given = [f"--{flag.replace('_', '-')}" for flag in RECIPE_FLAGS if getattr(args, flag) is not None]
    if args.param or given:
        raise ValueError(f"Sweep '{name}' exists: it keeps the recipe and parameters it was made with. Resume it "
                         f"without {', '.join(given + (['--param'] if args.param else []))}, or name a new sweep.")
    if args.trials is not None:  # before the study is changed: a new sweep is held to this by check_new_sweep
        check_trials(args.trials)
    study, spec = store.load_sweep(storage, name)
    # Only --dask moves a resumed sweep: DIGITLAB_DASK_SCHEDULER is where new sweeps go, and the page launches a
    # sweep's driver with its study's own choice (this machine, or the cluster it names).
    changed = replace(spec, trials=spec.trials if args.trials is None else args.trials,
                      parallel=spec.parallel if args.parallel is None else args.parallel,
                      dask=scheduler if args.dask else spec.dask)
    if changed != spec:
        study.set_user_attr(store.SWEEP_ATTR, changed.to_json())


def _summary(storage, name: str, outcome: str) -> str:
    """One line for the terminal: how the sweep ended, its best trial and the default settings' trial."""
    from digitlab.training.sweeps.results import sweep_results

    results = sweep_results(storage, name)
    return f"sweep {name} {outcome}: {results.verdict()}"
