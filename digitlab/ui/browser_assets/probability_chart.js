// The Draw page's probability bars: one plotly chart kept on the page, redrawn with Plotly.react.
//
// Streamlit calls the default export with the same parent element each time the figure changes, so the
// chart is created once and updated in place. Plotly's script is plotly.min.js from the plotly Python
// package, served by the app beside this file (see digitlab/ui/browser_components.py): never a CDN.

const PLOTLY_URL = new URL("../digitlab.plotly_library/plotly.min.js", import.meta.url).href;
const PRELOAD_DELAY_MS = 800; // after the page's own work: the first view of the page is not held up
const CONFIG = { displayModeBar: false, staticPlot: true, responsive: true };
// A new reading of the same chart moves only bar heights and labels (every bar keeps its colour, see
// probability_figure): plotly animates those in place in about half the time of a full redraw by react.
const MOVE_BARS_NOW = { transition: { duration: 0 }, frame: { duration: 0, redraw: false }, mode: "immediate" };

let plotlyLoading = null;

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (plotlyLoading === null) {
    plotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = PLOTLY_URL;
      script.async = true;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        plotlyLoading = null; // a later stroke tries again
        script.remove();
        reject(new Error(`could not load ${PLOTLY_URL}`));
      };
      document.head.appendChild(script);
    });
  }
  return plotlyLoading;
}

let idleLoading = null;

function loadWhenIdle() {
  if (idleLoading === null) {
    idleLoading = new Promise((resolve) => {
      const idle = window.requestIdleCallback || ((run) => setTimeout(run, 1));
      setTimeout(() => idle(resolve, { timeout: 2000 }), PRELOAD_DELAY_MS);
    }).then(loadPlotly);
  }
  return idleLoading;
}

const themes = new WeakMap();

// The app's theme, as Streamlit sets it on the component's container, so the bars sit in the page's look.
// Read once per chart: getComputedStyle makes the browser work out the styles of the whole page.
function themeOf(element) {
  if (!themes.has(element)) {
    const style = getComputedStyle(element);
    const value = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    themes.set(element, {
      font: value("--st-font", "sans-serif"),
      text: value("--st-text-color", "#31333F"),
      grid: value("--st-border-color-light", "rgba(49, 51, 63, 0.1)"),
    });
  }
  return themes.get(element);
}

function themed(layout, element) {
  const { font, text, grid } = themeOf(element);
  const axis = (own) => ({ ...own, gridcolor: grid, zerolinecolor: grid, linecolor: grid, color: text });
  return {
    ...layout,
    font: { family: font, color: text },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: axis(layout.xaxis),
    yaxis: axis(layout.yaxis),
  };
}

function describe(probabilities) {
  return "Probability of each digit: " + probabilities.map((p, digit) => `${digit} ${Math.round(p * 100)}%`).join(", ");
}

export default function ({ data, parentElement }) {
  const chart = parentElement.querySelector(".digitlab-probability-chart");
  const figure = data && data.figure;
  if (!chart || !figure) return;
  const reading = data.probabilities; // null before the first stroke: the bars stand empty
  chart.latest = data;
  if (reading) {
    // What the chart shows, readable without plotly (and by tests): the ten probabilities as sent.
    chart.dataset.probabilities = JSON.stringify(reading);
    chart.setAttribute("aria-label", describe(reading));
  } else {
    delete chart.dataset.probabilities;
    chart.setAttribute("aria-label", "Probability of each digit: nothing read yet");
  }
  chart.setAttribute("role", "img");
  chart.style.minHeight = `${figure.layout.height}px`; // the bars' room is kept while plotly loads
  // Before the first stroke plotly is fetched once the page is idle, so the first view does not wait for it.
  const plotly = reading || window.Plotly ? loadPlotly() : loadWhenIdle();
  plotly
    .then((Plotly) => {
      // The latest figure wins: a stroke answered while plotly loaded is drawn with the newest values.
      if (chart.latest !== data) return;
      const layout = JSON.stringify(figure.layout);
      if (chart.drawnLayout === layout && chart.data && chart.data.length === figure.data.length) {
        return Plotly.animate(chart, { data: figure.data, traces: figure.data.map((_, index) => index) }, MOVE_BARS_NOW);
      }
      chart.drawnLayout = layout; // anything else (the first figure, a new layout) is drawn whole
      return Plotly.react(chart, figure.data, themed(figure.layout, chart), CONFIG);
    })
    .catch((error) => {
      // A newer reading interrupts an animation still under way: that is no failure.
      if (chart.latest === data) console.error("probability chart:", error);
    });
}
