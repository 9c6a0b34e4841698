"""What an executor tells a sweep's driver about each trial, in this order: TrialStarted (where it runs), an
EpochDone for each completed epoch, and exactly one TrialEnded, after which the run folder holds the trial's final
status (and its model, when it left one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrialStarted:
    number: int
    where: dict  # host, gpu (None without one) and, on Dask, the worker's address


@dataclass(frozen=True)
class EpochDone:
    number: int
    epoch: int  # from 1
    val_accuracy: float


@dataclass(frozen=True)
class TrialEnded:
    number: int
    state: str  # the run folder's final state: done, stopped or failed
    message: str


TrialReport = TrialStarted | EpochDone | TrialEnded
