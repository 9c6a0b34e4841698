"""The default model's recipe as one command: a teacher, a student distilled from it, a polish, then a candidate.

Each step is an ordinary run, started the way the Train page starts one (digitlab.training.jobs.start_run:
its own `python -m digitlab train --run-dir` process, holding the training lock) into the recipe's folder,
and waited for. The polish run's config carries the record of the steps before it, so its card (and the
card of any model promoted from it) lists every step's command, time and data sha256, written by code
alone (digitlab.store.model_cards.recipe_step). The candidate is the polish run registered as `default`
in `<out>/candidate/`; replacing the shipped default is left to a person, with the command printed.
Stopped (SIGTERM, Ctrl-C), the recipe ends the trainer of the step it is waiting for; the steps that
finished are kept, and the same command into the same folder goes on after them.

TensorFlow uses a GPU wherever it sees one; nothing here asks for one, so the recipe runs without.
"""

from __future__ import annotations

import os
import platform
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from digitlab.store.model_cards import RECIPE_KEY, recipe_step
from digitlab.store.registry import ModelEntry, promote_run
from digitlab.store.run_config import TrainConfig
from digitlab.store.run_folder import Run, read_run

RECIPE_NAMES = ("default",)
CANDIDATE_FOLDER = "candidate"  # <out>/candidate/: the recipe's model, registered as CANDIDATE_NAME
CANDIDATE_NAME = "default"
POLL_SECONDS = 2.0
TINY_MNIST_IMAGES = 300  # --tiny: a few hundred MNIST images and one epoch a step, to check the wiring, not to learn
TINY_NON_DIGITS = 60
# A stopped recipe asks its step's trainer to end (SIGTERM) and kills it if it has not within this long,
# so that the trainer never outlives the recipe holding the training lock.
TRAINER_END_PATIENCE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # `kill`, a service manager, or Ctrl-C

# The three steps. The teacher reads digits only, from every pen source; the student learns "not a digit"
# too (generated non-digits and real letters) and distils the teacher's beliefs where it reads the label;
# the polish goes on from the student at a tenth of the rate without augmentation.
TEACHER = TrainConfig(arch="digitnet", epochs=12, batch_size=128, lr=1e-3, augment=True, seed=0, pen_copies=2,
                      unipen_copies=1, style_copies=1, title="recipe default: teacher")
STUDENT = TrainConfig(arch="digitnet", epochs=16, batch_size=128, lr=1e-3, augment=True, seed=1, teacher_weight=0.7,
                      pen_copies=2, unipen_copies=2, style_copies=2, letter_copies=1, non_digits=6000,
                      title="recipe default: student")
POLISH = replace(STUDENT, epochs=3, lr=1e-4, augment=False, title="recipe default: polish")


class RecipeError(RuntimeError):
    """A step did not finish; the message names it and says why."""


class RecipeStopped(RecipeError):
    """The recipe was stopped from outside (reason: e.g. "SIGTERM"); the trainer of the step it was on was ended."""

    def __init__(self, reason: str, step: str | None = None):
        self.reason, self.step = reason, step
        during = f" during its {step} step, whose training run was ended" if step else ""
        super().__init__(f"The recipe was stopped ({reason}){during}. The steps that finished are kept: the same "
                         "command, into the same folder, goes on after them.")


@dataclass
class _StopState:
    launching: bool = False  # start_run is launching a trainer: a stop waits until it has returned
    pending: str | None = None  # the signal that came meanwhile


_STOP = _StopState()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block (in the main thread), SIGTERM and SIGINT raise RecipeStopped, so that the recipe ends the
    trainer of its step before it exits: SIGTERM would otherwise end this process at once, and neither signal
    reaches the trainer, which runs in a session of its own. A signal the process was started ignoring (SIGINT
    under nohup, or `&` in a script) stays ignored."""
    handled = [stop_signal for stop_signal in STOP_SIGNALS if signal.getsignal(stop_signal) is not signal.SIG_IGN]

    def stop(signal_number, _frame):
        for stop_signal in handled:  # a second Ctrl-C must not cut short the ending of the trainer
            signal.signal(stop_signal, signal.SIG_IGN)
        name = signal.Signals(signal_number).name
        if _STOP.launching:
            _STOP.pending = name
            return
        raise RecipeStopped(name)

    previous = {stop_signal: signal.signal(stop_signal, stop) for stop_signal in handled}
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
        _STOP.pending = None


@contextmanager
def _launching() -> Iterator[None]:
    """Hold a stop back while start_run launches a trainer, and raise it once start_run has returned: stopped
    after launching, start_run would remove the run folder while the new trainer is writing into it."""
    _STOP.launching = True
    try:
        yield
    finally:
        _STOP.launching = False
    if _STOP.pending:
        raise RecipeStopped(_STOP.pending)


@dataclass(frozen=True)
class RecipeResult:
    candidate: ModelEntry  # the polish run's model registered in <out>/candidate/
    steps: list[Run]  # teacher, student, polish, finished
    next_step: str  # the command that makes the candidate the shipped default


def recipe_configs(pen_digits: str, unipen: str, seed: int = 0, tiny: bool = False) -> dict[str, TrainConfig]:
    """The steps' configs by name (the student's teacher and the polish's start are filled in as they finish)."""
    configs = {"teacher": TEACHER, "student": STUDENT, "polish": POLISH}
    configs = {name: replace(config, pen_digits=pen_digits, unipen=unipen, seed=config.seed + seed)
               for name, config in configs.items()}
    if tiny:
        configs = {name: replace(config, epochs=1, limit=TINY_MNIST_IMAGES,
                                 non_digits=min(config.non_digits, TINY_NON_DIGITS))
                   for name, config in configs.items()}
    return configs


def recipe_command(name: str, out: Path, pen_digits: str, unipen: str, seed: int, tiny: bool) -> str:
    """The command line that runs this recipe (recorded on the card)."""
    return " ".join(["python -m digitlab recipe", name, "--out", str(out), "--seed", str(seed),
                     "--pen-digits", str(pen_digits), "--unipen", str(unipen), *(["--tiny"] if tiny else [])])


def recipe_settings():
    """The settings the recipe's runs start under: the deployment's, with this machine's cores and free memory.

    The Train page's defaults (one thread, 1,500 MB) keep a shared deployment responsive for its visitors.
    The recipe is run by hand, on a machine of one's own, so it may use all of it: unless
    DIGITLAB_TRAIN_THREADS or DIGITLAB_TRAIN_MEMORY_MB is set, its runs use every core and the memory free
    when it starts (its student and polish need more than 1,500 MB by the estimate).
    """
    import psutil

    from digitlab.config.settings import TRAIN_MEMORY_MB_VAR, TRAIN_THREADS_VAR, load_settings
    from digitlab.training.memory_budget import MB

    settings = load_settings()
    if not os.environ.get(TRAIN_THREADS_VAR):
        settings = replace(settings, train_threads=os.cpu_count() or 1)
    if not os.environ.get(TRAIN_MEMORY_MB_VAR):
        free_mb = int(psutil.virtual_memory().available / MB)
        settings = replace(settings, train_memory_mb=max(settings.train_memory_mb, free_mb))
    return settings


def finished_step(out: Path, config: TrainConfig) -> Run | None:
    """The run in out that already finished this step (the same config, whatever its threads), or None.

    A recipe stopped after a step (a full run takes hours on two cores) goes on from there when it is
    started again into the same folder: the steps are trained one after another, each from the last.
    """
    for run_dir in sorted(out.iterdir(), reverse=True) if out.is_dir() else []:
        try:
            run = read_run(run_dir)
        except (OSError, ValueError):
            continue
        if run.state == "done" and run.config is not None and replace(run.config, threads=config.threads) == config:
            return run
    return None


def run_recipe(out: Path, pen_digits: str, unipen: str, seed: int = 0, tiny: bool = False, settings=None,
               report: Callable[[str], None] = print) -> RecipeResult:
    """Train the default recipe's three runs into out, one after another, and register the candidate.

    Steps that already finished in out (the same config) are not trained again. Raises RecipeError when a
    step fails or is stopped, FileExistsError when out already holds a recipe's candidate.
    """
    from digitlab.datasets.mnist import EXPECTED_ARRAYS
    from digitlab.training import jobs

    out = Path(out).resolve()
    if (out / CANDIDATE_FOLDER).exists():
        raise FileExistsError(f"{out} already holds a recipe's candidate; choose a new folder.")
    out.mkdir(parents=True, exist_ok=True)
    settings = settings or recipe_settings()
    configs = recipe_configs(str(pen_digits), str(unipen), seed, tiny)
    mnist_sha256 = {f"mnist_{name}": EXPECTED_ARRAYS[name][1] for name in ("x_train", "y_train")}
    record = {"name": "default", "command": recipe_command("default", out, pen_digits, unipen, seed, tiny),
              "seed": seed, "tiny": tiny, "mnist_sha256": mnist_sha256, "this_step": "polish",
              "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform()}, "steps": []}
    finished: list[Run] = []
    for name in ("teacher", "student", "polish"):
        config = configs[name]
        if name != "teacher":
            config = replace(config, teacher=str(finished[0].dir))
        if name == "polish":
            config = replace(config, init_from=str(finished[1].dir), extra={RECIPE_KEY: record})
        run = finished_step(out, config)
        if run is not None:
            report(f"{name}: {run.name} finished earlier, MNIST test {run.status.test_accuracy}")
        else:
            try:
                run = _train_step(jobs, config, out, settings)
            except RecipeStopped as stopped:
                raise RecipeStopped(stopped.reason, name) from None
            report(f"{name}: {run.name} {run.state} in {run.status.elapsed or 0:.0f} s, "
                   f"MNIST test {run.status.test_accuracy}")
        if run.state != "done":
            raise RecipeError(f"The {name} step ({run.dir}) ended {run.state}: {run.status.message}\n{run.log_tail()}")
        finished.append(run)
        if name != "polish":
            record["steps"].append(recipe_step(run, name, mnist_sha256))
    candidate = promote_run(finished[2].dir, CANDIDATE_NAME, directory=out / CANDIDATE_FOLDER)
    next_step = f"python -m digitlab promote {finished[2].dir} --name {CANDIDATE_NAME} --replace"
    return RecipeResult(candidate, finished, next_step)


def _train_step(jobs, config: TrainConfig, root: Path, settings) -> Run:
    """Start one run as the Train page does and wait for its trainer to end; the run as it ended.

    Stopped (RecipeStopped from the command's signal handler, or KeyboardInterrupt), it ends the trainer before
    passing the stop on: the trainer runs in a session of its own, so neither Ctrl-C nor a SIGTERM to the recipe
    reaches it, and it would otherwise go on training, holding the training lock, for a recipe that has gone.
    Any other error leaves the trainer to finish its step, which a second recipe into the folder then takes up.
    """
    try:
        with _launching():
            run = jobs.start_run(config, settings, root=root)
        while run.is_active:  # refresh_run marks a run whose trainer died without a word as failed
            time.sleep(POLL_SECONDS)
            run = jobs.refresh_run(read_run(run.dir))
    except (RecipeStopped, KeyboardInterrupt):
        end_trainers(root)
        raise
    return run


def end_trainers(root: Path) -> None:
    """End the trainers this process started for runs in root: SIGTERM, then SIGKILL after a few seconds.

    Found among this process's own children by their command line rather than by the run's job.json, so that
    a KeyboardInterrupt inside start_run, after it has launched the trainer, leaves none behind either. Each run
    still marked as training is then marked failed, saying why, so its folder does not claim a live trainer.
    """
    import psutil

    from digitlab.store import run_folder as runs
    from digitlab.training.jobs import trainer_command

    trainers = {}
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
        except psutil.Error:  # ended meanwhile
            continue
        run_dir = Path(command[-1]) if command else None
        if run_dir is not None and run_dir.parent == root and command == trainer_command(run_dir):
            trainers[child] = run_dir
    for trainer in trainers:
        try:
            trainer.terminate()  # SIGTERM: the trainer sets no handler for it, so it ends at once
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(trainers), timeout=TRAINER_END_PATIENCE_SECONDS)
    for trainer in alive:
        try:
            trainer.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=TRAINER_END_PATIENCE_SECONDS)
    for run_dir in trainers.values():
        try:
            if read_run(run_dir).is_active:
                runs.update_status(run_dir, state="failed", finished_at=time.time(), eta=None,
                                   message="Ended when the recipe that started it was stopped, before it finished. "
                                           "The recipe trains this step again when it is run again into this folder.")
        except (OSError, ValueError):  # start_run removes the folder of a run interrupted as it launched
            pass
