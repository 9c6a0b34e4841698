"""How every share a person reads is written (an accuracy, a confidence share): 96.02%, or '–' when unknown.

One function, so that a model's accuracy reads the same in the model list, the sidebar, the Evaluate
page and the command line. It lives in the lowest layer that writes one: the model store's labels.
"""

from __future__ import annotations

import numbers


def percent(value: float | None) -> str:
    """A share as a percentage with two decimals, 96.02%; '–' when unknown."""
    return f"{value:.2%}" if isinstance(value, numbers.Real) else "–"
