// The Draw page's Clear button: empties the canvas in the browser, at once.
//
// Clear used to be a Streamlit button whose rerun mounted a fresh canvas. Under load that rerun took a
// second or more, and a stroke drawn meanwhile went onto the old canvas, which the new one then replaced:
// the stroke was lost. Here Clear presses the canvas's own "Reset canvas & history" (in its toolbar, in
// the canvas component's shadow root): the canvas empties itself before the next stroke can start, and
// sends its empty drawing like any other change. Only if that button is not found (another version of
// the canvas) does it fall back to asking the server for a fresh canvas.

const RESET_LABEL = "Reset canvas & history";

function resetButton(slotClass) {
  const slot = slotOf(slotClass);
  if (!slot) return null;
  for (const host of slot.querySelectorAll("*")) {
    const button = host.shadowRoot && host.shadowRoot.querySelector(`button[aria-label="${RESET_LABEL}"]`);
    if (button) return button;
  }
  return null;
}

//
// A canvas that came back with the drawing it had (after Upload, Number mode or another page) was mounted with
// those strokes, and its reset returns to them, not to an empty canvas. Clear (and the toolbar's reset) then asks
// the server for a fresh canvas, and the canvas takes no stroke until it comes: a stroke drawn on the old one
// would be lost.

function slotOf(slotClass) {
  return document.querySelector(`.${slotClass}`);
}

function holdCanvas(slotClass, generation) {
  const slot = slotOf(slotClass);
  if (!slot) return;
  slot.dataset.heldFor = String(generation);
  slot.style.pointerEvents = "none";
  slot.style.opacity = "0.35";
}

function releaseCanvas(slotClass, generation) {
  const slot = slotOf(slotClass);
  if (!slot || slot.dataset.heldFor === undefined || slot.dataset.heldFor === String(generation)) return;
  delete slot.dataset.heldFor;
  slot.style.pointerEvents = "";
  slot.style.opacity = "";
}

// The canvas toolbar's own reset button, on such a canvas, does what Clear does: the visitor asked for an empty
// canvas. The click is caught on its way down to the button (in the canvas's shadow root), at the document, so
// that it is caught whenever the canvas comes onto the page.
let latestClear = null; // { data, ask } of the Clear on the page now

function catchToolbarReset(event) {
  if (latestClear === null || !latestClear.data.redrawn || !event.isTrusted) return; // Clear's own click is let be
  const path = event.composedPath();
  const inSlot = path.some((node) => node.classList && node.classList.contains(latestClear.data.canvas));
  const onReset = path.some((node) => node.getAttribute && node.getAttribute("aria-label") === RESET_LABEL);
  if (!inSlot || !onReset) return;
  event.stopPropagation();
  event.preventDefault();
  latestClear.ask();
}

// The canvas toolbar keeps Undo, Redo and reset. Its Edit mode (a pencil icon) stopped drawing and moved or scaled
// the strokes without a new reading, and its manual send is not needed: every stroke is sent. Each canvas draws
// its toolbar in a shadow root of its own, so the rule goes into each one that comes into the slot.
const HIDDEN_TOOLS_CSS = `button[aria-label="Edit"], button[aria-label="Update the app with this drawing"],
  .dc-toolbar-separator { display: none !important; }`;

function simplifyToolbars(slot) {
  for (const host of slot.querySelectorAll("*")) {
    const root = host.shadowRoot;
    if (root && !root.querySelector("style[data-digitlab-tools]")) {
      const style = document.createElement("style");
      style.dataset.digitlabTools = "";
      style.textContent = HIDDEN_TOOLS_CSS;
      root.appendChild(style);
    }
  }
}

const SLOT_WAIT_MS = 10000; // Clear can come onto the page before the canvas's slot does

function keepToolbarsSimple(slotClass, waited = 0) {
  const slot = slotOf(slotClass);
  if (!slot) {
    if (waited < SLOT_WAIT_MS) setTimeout(() => keepToolbarsSimple(slotClass, waited + 100), 100);
    return;
  }
  const apply = () => {
    simplifyToolbars(slot);
    requestAnimationFrame(() => simplifyToolbars(slot)); // a canvas attaches its shadow root as it mounts
  };
  apply();
  if (!slot.digitlabToolsWatched) {
    slot.digitlabToolsWatched = true; // a canvas mounted later (Clear's fresh one, one mounted again) gets it too
    new MutationObserver(apply).observe(slot, { childList: true, subtree: true });
  }
}

export default function ({ data, parentElement, setTriggerValue }) {
  const button = parentElement.querySelector("button.digitlab-clear");
  if (!button) return;
  releaseCanvas(data.canvas, data.generation); // a fresh canvas has come
  keepToolbarsSimple(data.canvas);
  const askForFreshCanvas = () => {
    holdCanvas(data.canvas, data.generation);
    setTriggerValue("remount", true);
  };
  if (latestClear === null) document.addEventListener("click", catchToolbarReset, true);
  latestClear = { data, ask: askForFreshCanvas };
  button.onclick = () => {
    const reset = data.redrawn ? null : resetButton(data.canvas);
    if (reset) reset.click();
    else askForFreshCanvas();
  };
}
