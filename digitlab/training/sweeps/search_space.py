"""A sweep's search space: `--param` texts as Optuna distributions over the fields of a run's TrainConfig.

    lr=1e-4:3e-3:log     a range (log-uniform with :log); whole numbers give whole-number ranges
    width=16,32,48       a list of choices
    augment=true,false   choices of a yes/no field

Each text is kept as written in the study, so a resumed sweep parses exactly the space it started with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from digitlab.store.run_config import TrainConfig
from digitlab.training.architectures import DIGITNET_WIDTH

# The fields a sweep may search, by the type their values take. Others (data files, teachers, the bank) name
# things on this machine or change what the run learns, not how well: tune those with single runs.
TUNABLE_FIELDS: dict[str, type] = {"lr": float, "width": int, "batch_size": int, "epochs": int,
                                   "label_smoothing": float, "augment": bool, "seed": int, "arch": str}
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Parameter:
    """One searched field: its name, the text the user wrote, and the Optuna distribution it stands for."""

    name: str
    text: str  # the part after "=", as written
    distribution: Any  # an optuna.distributions.BaseDistribution

    def describe(self) -> str:
        return f"{self.name}={self.text}"


def parse_parameter(text: str) -> Parameter:
    """`name=lo:hi[:log]` or `name=a,b,c` as a Parameter; ValueError saying how to write it otherwise."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    name, equals, values = (part.strip() for part in str(text).partition("="))
    if not equals or not name or not values:
        raise ValueError(f"'{text}' is not a parameter: write name=low:high[:log] or name=a,b,c.")
    kind = TUNABLE_FIELDS.get(name)
    if kind is None:
        raise ValueError(f"A sweep cannot search '{name}'. It can search: {', '.join(TUNABLE_FIELDS)}.")
    if ":" in values and "," not in values:
        if kind not in (int, float):
            raise ValueError(f"{name} takes a list of choices (name=a,b), not a range.")
        low_text, _, rest = values.partition(":")
        high_text, _, scale = rest.partition(":")
        if scale not in ("", "log"):
            raise ValueError(f"'{text}': the third part of a range can only be 'log'.")
        low, high = _as(kind, name, low_text), _as(kind, name, high_text)
        if not low < high:
            raise ValueError(f"'{text}': the low end must be below the high end.")
        if scale and low <= 0:
            raise ValueError(f"'{text}': a log range must start above 0.")
        distribution = (IntDistribution if kind is int else FloatDistribution)(low, high, log=bool(scale))
        return Parameter(name, values, distribution)
    choices = [_as(kind, name, part) for part in values.split(",")]
    if len(set(choices)) != len(choices):
        raise ValueError(f"'{text}' lists a choice twice.")
    return Parameter(name, values, CategoricalDistribution(choices))


def parse_space(texts: list[str], base: TrainConfig) -> dict[str, Parameter]:
    """Every `--param` text parsed, each name once, each end and choice a config the base recipe can train."""
    space: dict[str, Parameter] = {}
    for text in texts:
        parameter = parse_parameter(text)
        if parameter.name in space:
            raise ValueError(f"{parameter.name} is searched twice; give each parameter once.")
        space[parameter.name] = parameter
    if not space:
        raise ValueError("A sweep needs at least one parameter to search, e.g. --param lr=1e-4:3e-3:log.")
    for parameter in space.values():
        for value in _extremes(parameter.distribution):
            try:
                config_for(base, {parameter.name: value})
            except ValueError as error:
                raise ValueError(f"{parameter.describe()} cannot be trained with: {error}") from None
    return space


def config_for(base: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """The base recipe with a trial's values; ValueError when the result cannot be trained."""
    config = replace(base, **params)
    config.validate()
    return config


def base_values(base: TrainConfig, space: dict[str, Parameter]) -> dict[str, Any] | None:
    """The base recipe's own value of each searched field, when every one lies in the space; else None.

    Those values become the sweep's first trial, so the best trial is measured against the default settings
    on the same budget. digitnet's width of None is the shipped network's width.
    """
    values = {}
    for name, parameter in space.items():
        value = getattr(base, name)
        if name == "width" and value is None and base.arch == "digitnet":
            value = DIGITNET_WIDTH
        if not _contains(parameter.distribution, value):
            return None
        values[name] = value
    return values


def heaviest_configs(base: TrainConfig, space: dict[str, Parameter]) -> list[TrainConfig]:
    """The configs the space allows at each extreme of the fields that decide a run's memory (batch size, width,
    architecture, augmentation); every trial needs at most what the heaviest of them needs."""
    from itertools import product

    sizes = {name: _extremes(space[name].distribution) for name in ("batch_size", "width", "arch", "augment")
             if name in space}
    configs = []
    for values in product(*sizes.values()):
        try:
            configs.append(config_for(base, dict(zip(sizes, values))))
        except ValueError:
            continue  # a combination no trial can have (a width for mlp)
    return configs or [base]


def highest(space: dict[str, Parameter], name: str, default):
    """The largest value the space gives a field (default when the field is not searched)."""
    return max(_extremes(space[name].distribution)) if name in space else default


def _as(kind: type, name: str, text: str):
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if kind is int:
            return int(text)
        return kind(text)
    except ValueError:
        wanted = {int: "a whole number", float: "a number", bool: "true or false", str: "a name"}[kind]
        raise ValueError(f"{name} takes {wanted}; '{text}' is not one.") from None


def _extremes(distribution) -> list:
    choices = getattr(distribution, "choices", None)
    return list(choices) if choices is not None else [distribution.low, distribution.high]


def _contains(distribution, value) -> bool:
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        return value in choices
    return value is not None and distribution.low <= value <= distribution.high
