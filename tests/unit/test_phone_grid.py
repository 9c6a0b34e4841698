"""The narrow-screen rule of ui/phone_grid.py: scoped to its own container and to phone-sized screens."""

from __future__ import annotations

import re

from digitlab.ui.phone_grid import phone_grid_css


def test_phone_grid_rule_touches_only_its_own_container_and_only_on_a_phone():
    """Test that every selector of the rule starts at its keyed container, and that all of it sits inside the
    640 px media query, so a wide screen's layout and the page's other columns are left as they were."""
    css = phone_grid_css("drawings_grid", 3)
    body = css.removeprefix("<style>").removesuffix("</style>").strip()
    assert body.startswith("@media (max-width: 640px) {") and body.endswith("}")
    inner = body[body.index("{") + 1 : -1]
    selectors = [selector.strip() for rule in re.findall(r"([^{}]+)\{[^{}]*\}", inner) for selector in rule.split(",")]
    assert selectors and all(selector.startswith(".st-key-drawings_grid") for selector in selectors), selectors

