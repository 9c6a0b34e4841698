"""DigitLab's own browser components (Streamlit components v2, no build step), served by the app itself.

An installed component names its asset folder in its package's pyproject.toml, which Streamlit reads at
start-up. DigitLab runs from its source tree, so this module makes the same declaration to the running
app's component registry: browser_assets/ beside this file, and plotly's package_data/ (the plotly.min.js
the plotly package ships, with its templates and sample data: public library files), so the probability
chart loads plotly from the app and never from a CDN.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import streamlit as st

ASSETS = Path(__file__).parent / "browser_assets"
PACKAGE = "digitlab"  # component names are "digitlab.<name>"; their files are served under that name
COMPONENTS = ("probability_chart", "clear_canvas")  # each one's script is browser_assets/<name>.js
PLOTLY_LIBRARY = "plotly_library"  # never mounted: serves plotly.min.js to the chart's script
_mounts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a runtime's registry -> {name: command}


def _declare_asset_folders(manager) -> None:
    """Tell one runtime's component registry where the components' files are."""
    import plotly
    from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest

    own = [ComponentConfig(name, ASSETS.name) for name in COMPONENTS]
    manager.register_from_manifest(ComponentManifest(PACKAGE, "1", own), ASSETS.parent)
    library = [ComponentConfig(PLOTLY_LIBRARY, "package_data")]
    manager.register_from_manifest(ComponentManifest(PACKAGE, "1", library), Path(plotly.__file__).parent)


def mounting_command(name: str, html: str, css: str | None = None):
    """The mounting command of component `name` on the running app, or None outside one (the benchmarks).

    Checked on every call, cheaply: each AppTest has a runtime, and so a component registry, of its own.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    if not Runtime.exists() or get_script_run_ctx(suppress_warning=True) is None:
        return None
    manager = Runtime.instance().bidi_component_registry
    if manager not in _mounts:
        _declare_asset_folders(manager)
        _mounts[manager] = {}
    commands = _mounts[manager]
    if name not in commands:
        commands[name] = st.components.v2.component(f"{PACKAGE}.{name}", html=html, css=css, js=f"{name}.js",
                                                    isolate_styles=False)
    return commands[name]
