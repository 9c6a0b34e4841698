"""The Draw page's "Why?" panel: saliency, nearest training digits, what-if readings and feature maps.

The panel is an expander that reruns the page when opened or closed and reports whether it is open,
so while it is closed nothing here runs: a stroke costs exactly what it costs without the panel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from digitlab.datasets.mnist import MnistUnavailableError, load_mnist
from digitlab.explain.explainer import Explainer, Explanation
from digitlab.explain.layers import ExplainError, LayerActivation
from digitlab.explain.neighbours import NeighbourIndex, being_built, embeddings_cache_path, training_index
from digitlab.serving.predictor import Prediction
from digitlab.store.registry import ModelEntry, load_entry
from digitlab.explain.pictures import FEATURE_CHANNELS, enlarge, feature_grid, saliency_image, unit_strip
from digitlab.ui.phone_grid import phone_grid

PANEL_KEY = "why_panel"
READY_KEY_PREFIX = "why_panel_ready_"  # + the model's sha256: this session has seen its first explanation through
FIRST_TIME_NOTE = "once per model, up to a minute"
MEMBER_KEY = "why_panel_member"
SALIENCY_SCALE = 7  # screen pixels per model pixel, as the model's view beside the canvas
THUMBNAIL_SCALE = 3
THUMBNAILS_PER_ROW = 4  # the nearest digits' columns; on a phone the what-ifs too keep this many to a row
NOTHING_TO_EXPLAIN = "Draw a digit: this panel then shows why the model reads it as it does."
REFUSAL_NOT_EXPLAINED = "The model read no digit here, so there is no reading to explain."
TRAINING_DIGITS: int | None = None  # index only the first this many training digits (None: all 60,000)


def why_panel_open() -> bool:
    """Whether the visitor has the panel open (its state as the page's last run left it)."""
    return bool(st.session_state.get(PANEL_KEY))


def why_panel(prediction: Prediction | None, predictor, entry: ModelEntry) -> None:
    """The collapsible "Why?" panel under a reading (None: nothing drawn yet); computes only while it is open."""
    panel = st.expander("Why this answer? What the model looked at, and what it resembles", key=PANEL_KEY,
                        icon=":material/psychology_alt:", on_change="rerun")
    if not panel.open:
        return
    if prediction is None or prediction.digit is None:
        panel.info(NOTHING_TO_EXPLAIN if prediction is None else REFUSAL_NOT_EXPLAINED)
        return
    with panel:
        ready_key = f"{READY_KEY_PREFIX}{entry.sha256}"
        try:
            if st.session_state.get(ready_key):
                explanation, has_index = explain(prediction, predictor, entry, say=lambda text: None)
            else:
                explanation, has_index = _explain_the_first_time(prediction, predictor, entry)
                st.session_state[ready_key] = True
        except ExplainError as error:
            st.info(f"This model cannot be explained here: {error}")
            return
        show_explanation(explanation, has_index)


def _explain_the_first_time(prediction: Prediction, predictor, entry: ModelEntry) -> tuple[Explanation, bool]:
    """explain() in a status box that says what each slow first step is doing, and how long it took."""
    started = time.monotonic()
    with st.status(f"Getting ready to explain this model ({FIRST_TIME_NOTE})...", expanded=True) as status:
        try:
            result = explain(prediction, predictor, entry, say=st.write)
        except ExplainError:
            status.update(label="This model cannot be explained here.", state="error", expanded=False)
            raise
        status.update(label=f"Ready in {time.monotonic() - started:.0f} s; later explanations of this model are quick.",
                      state="complete", expanded=False)
    return result


def explain(prediction: Prediction, predictor, entry: ModelEntry, say: Callable[[str], object]) -> tuple[Explanation, bool]:
    """The explanation of a reading, and whether it has nearest training digits; say() is told each step as it starts."""
    say("Loading TensorFlow and the model's Keras file: the explanations need its gradients, which the app's "
        "reading model (LiteRT) does not have.")
    explainer = load_explainer(entry, predictor)
    index = neighbour_index(entry, explainer, say)
    say("Computing where the ink counted, the what-if readings and each layer's maps.")
    explanation = (explainer if index is None else explainer.with_index(index)).explain(
        prediction.mnist, prediction.probabilities, predictor)
    return explanation, index is not None


@st.cache_resource(show_spinner=False, max_entries=4)  # explain() says what is happening
def _explainer(sha256: str, _predictor, _entry: ModelEntry) -> Explainer:
    # Keyed by the model file's hash; like the Predictor, one Explainer serves every visitor, unmutated.
    # Gradients need the Keras model itself; a Predictor serving a LiteRT flatbuffer has none.
    return Explainer(_predictor.model if _predictor.model is not None else load_entry(_entry))


def load_explainer(entry: ModelEntry, predictor) -> Explainer:
    return _explainer(entry.sha256, predictor, entry)


def neighbour_index(entry: ModelEntry, explainer: Explainer,
                    say: Callable[[str], object] = lambda text: None) -> NeighbourIndex | None:
    """The model's index of MNIST training digits, built on first use with a progress bar; None without MNIST."""
    try:
        mnist = load_mnist()
    except MnistUnavailableError:
        st.caption("The nearest training digits need the MNIST data set, which is not available here.")
        return None
    if not embeddings_cache_path(entry.sha256, "train").exists():
        say(f"Building the index of the nearest training digits: each of the {len(_training_digits(mnist).x_train):,} "
            "MNIST training digits through the model, once per model (the longest step, up to a minute on a "
            "small server).")
        # Built outside the cached function, so the progress bar is shown live rather than replayed. Built once:
        # a visitor who opens the panel while another's build runs waits for it (digitlab/explain/neighbours.py).
        bar = st.progress(0.0, text="Another visitor is embedding the MNIST training digits for this model; waiting "
                                    "for it..." if being_built(entry.sha256) else
                                    "Embedding the MNIST training digits for this model (once per model)...")
        training_index(explainer, _training_digits(mnist), entry.sha256,
                       progress=lambda done, total: bar.progress(done / total, text=f"Embedding the MNIST "
                                                                 f"training digits: {done:,} of {total:,} (once per model)"))
        bar.empty()
    else:
        say("Loading the index of the nearest training digits (built once for this model).")
    return _index(entry.sha256, explainer)


@st.cache_resource(show_spinner=False, max_entries=2)  # about 60 MB each
def _index(sha256: str, _explainer: Explainer) -> NeighbourIndex:
    return training_index(_explainer, _training_digits(load_mnist()), sha256)


def _training_digits(mnist):
    if TRAINING_DIGITS is None:
        return mnist
    from digitlab.datasets.mnist import Mnist

    return Mnist(mnist.x_train[:TRAINING_DIGITS], mnist.y_train[:TRAINING_DIGITS], mnist.x_test, mnist.y_test,
                 mnist.source)


def show_explanation(explanation: Explanation, has_neighbours: bool) -> None:
    saliency_column, neighbours_column = st.columns([1, 2])
    with saliency_column:
        st.markdown("**Where the ink counted**")
        st.image(saliency_image(explanation.mnist, explanation.saliency, SALIENCY_SCALE), output_format="PNG")
        st.caption(f"Red ink argued for {explanation.digit}, blue ink against it (integrated gradients). "
                   "Empty paper gets no colour: the what-if strip shows what missing ink does.")
    with neighbours_column:
        st.markdown("**The most similar MNIST training digits**")
        if has_neighbours:
            _show_neighbours(explanation)
    st.markdown("**What if the drawing were different?**")
    st.caption("The same 28 × 28 input, changed, and the model's reading of each: what it is robust to.")
    with phone_grid("why_what_if_grid", THUMBNAILS_PER_ROW):
        cells = st.columns(len(explanation.what_ifs) or 1)
        for cell, what_if in zip(cells, explanation.what_ifs):
            mark = "" if what_if.digit == explanation.digit else " ⚠"
            cell.image(enlarge(what_if.image, THUMBNAIL_SCALE),
                       caption=f"{what_if.name}: {what_if.digit} ({what_if.probability:.0%}){mark}")
    _show_layers(explanation.layers)


def _show_neighbours(explanation: Explanation) -> None:
    images = load_mnist().x_train  # the same arrays (cached in memory) the index was built from
    labels = [n.label for n in explanation.neighbours]
    agreeing = sum(label == explanation.digit for label in labels)
    st.caption(f"By the model's own penultimate-layer embedding (cosine similarity). {agreeing} of {len(labels)} "
               f"are {explanation.digit}s.")
    with phone_grid("why_neighbours_grid", THUMBNAILS_PER_ROW):
        columns = st.columns(THUMBNAILS_PER_ROW)
    for position, neighbour in enumerate(explanation.neighbours):
        columns[position % THUMBNAILS_PER_ROW].image(enlarge(images[neighbour.index], THUMBNAIL_SCALE),
                                                    caption=f"{neighbour.label} · {neighbour.similarity:.2f} · "
                                                            f"#{neighbour.index}")


def _show_layers(layers: list[LayerActivation]) -> None:
    if not layers:
        return
    st.markdown("**What each layer sees**")
    members = sorted({layer.name.split("/")[0] for layer in layers if "/" in layer.name})
    if members:  # an ensemble: one member network at a time
        member = st.segmented_control("Network", members, default=members[0], key=MEMBER_KEY) or members[0]
        layers = [layer for layer in layers if layer.name.startswith(f"{member}/")]
    for layer in layers:
        if layer.kind == "conv":
            height, width, channels = layer.values.shape
            shown = min(FEATURE_CHANNELS, channels)
            st.image(feature_grid(layer.values), caption=f"{layer.name}: {height} × {width} × {channels}; "
                                                         f"the {shown} most active channels, brighter is stronger")
        else:
            st.image(unit_strip(layer.values), caption=f"{layer.name}: {layer.values.size} hidden units, "
                                                       "brighter is stronger")
