"""`python -m digitlab recipe default --out DIR [--tiny]`: the default model's three runs and its candidate."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path


def add_recipe_parser(subparsers) -> None:
    from digitlab.training.recipe import RECIPE_NAMES

    recipe = subparsers.add_parser("recipe", help="train the default model's recipe (teacher, student, polish) "
                                                  "into a folder, ending in a candidate model")
    recipe.add_argument("name", choices=list(RECIPE_NAMES), help="the recipe")
    recipe.add_argument("--out", type=Path, default=Path("runs/recipe"), help="a new folder for its runs")
    recipe.add_argument("--seed", type=int, default=0, help="added to each step's own seed")
    recipe.add_argument("--tiny", action="store_true",
                        help="a few hundred MNIST images and one epoch a step: checks the recipe, learns little")
    recipe.add_argument("--pen-digits", default=None, help="pendigits-orig.tra (default: ../shared/data's copy)")
    recipe.add_argument("--unipen", default=None, help="unipen-dev.tar.gz (default: ../shared/data's copy)")


def run_recipe_command(args) -> int:
    from digitlab.datasets.pendigits import pen_digits_refusal, pendigits_path
    from digitlab.datasets.unipen import unipen_path
    from digitlab.store.registry import ModelLoadError
    from digitlab.training.jobs import RunMemoryError, RunQuotaError, TrainingBusyError
    from digitlab.training.recipe import RecipeError, RecipeStopped, run_recipe, stop_on_signals

    pen_digits, unipen = args.pen_digits or pendigits_path(), args.unipen or unipen_path()
    if pen_digits is None or unipen is None:
        print("error: the recipe trains on pendigits-orig.tra and unipen-dev.tar.gz; give --pen-digits and "
              "--unipen (see ../shared/data/README.md).", file=sys.stderr)
        return 2
    refusal = pen_digits_refusal(str(pen_digits))  # before run_recipe makes the folder for its runs
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        with stop_on_signals():  # SIGTERM or Ctrl-C: the step's trainer is ended, then RecipeStopped
            result = run_recipe(args.out, str(pen_digits), str(unipen), seed=args.seed, tiny=args.tiny,
                                report=lambda line: print(line, file=sys.stderr))
    except RecipeStopped as stopped:
        print(f"error: {stopped}", file=sys.stderr)
        stop_signal = signal.Signals.__members__.get(stopped.reason)
        return 128 + stop_signal.value if stop_signal else 1  # as a shell reports a command a signal ended
    except (FileExistsError, ValueError, RunMemoryError, RunQuotaError, TrainingBusyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (RecipeError, ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"candidate": str(result.candidate.path), "sha256": result.candidate.sha256,
                      "runs": [str(run.dir) for run in result.steps], "next_step": result.next_step}))
    print(f"Next, to make it the shipped default: {result.next_step}", file=sys.stderr)
    return 0
