// The leaderboard's charts, drawn with the locally served Plotly: each shown model's
// rating with its interval, and one pairwise matrix at a time (observed or predicted win
// rate, battles per pair). They follow the page's theme as soon as it changes. Plotly
// (1.5 MB compressed, about a second of script to run) is fetched only once the charts
// come near the window, so the table never waits for it.
"use strict";

const boardCharts = (() => {
  let shown = null;
  let matrix = "observed";

  function colours() {
    const dark = document.documentElement.classList.contains("dark");
    return {
      text: dark ? "#e8e8ea" : "#1d1d1f",
      grid: dark ? "#4a4b55" : "#d9d9de",
      marker: dark ? "#7aa2ff" : "#2456d6",
      scale: dark ? [[0, "#2b2f3d"], [0.5, "#46608f"], [1, "#9dbbff"]] :
        [[0, "#f4f6fb"], [0.5, "#8eaaf0"], [1, "#1d48b8"]],
    };
  }

  function axis(c, extra) {
    return { gridcolor: c.grid, zerolinecolor: c.grid, linecolor: c.grid, automargin: true,
      tickfont: { color: c.text }, ...extra };
  }

  function layout(c, extra) {
    return {
      margin: { t: 10, l: 10, r: 10, b: 10 }, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", font: { color: c.text, size: 12 }, ...extra,
    };
  }

  const config = { displayModeBar: false, responsive: true };

  function names(data) {
    const byModel = new Map(data.rows.map((r) => [r.model, r.display_name || r.model]));
    return data.pairs.models.map((m) => byModel.get(m) || m);
  }

  function ratings(data, c) {
    const rows = [...data.rows].filter((r) => r.rating != null).sort((a, b) => b.rating - a.rating);
    const plus = rows.map((r) => (r.ci_upper == null ? 0 : r.ci_upper - r.rating));
    const minus = rows.map((r) => (r.ci_lower == null ? 0 : r.rating - r.ci_lower));
    Plotly.react("chart-ratings", [{
      type: "scatter", mode: "markers", x: rows.map((r) => r.display_name || r.model),
      y: rows.map((r) => r.rating), marker: { color: c.marker, size: 9 },
      error_y: { type: "data", symmetric: false, array: plus, arrayminus: minus, color: c.marker },
      hovertemplate: "%{x}: %{y:.0f}<extra></extra>",
    }], layout(c, {
      xaxis: axis(c, { tickangle: -35 }),
      yaxis: axis(c, { title: { text: "Rating (95% interval)", font: { color: c.text } } }),
    }), config);
  }

  function pairs(data, c) {
    const labels = names(data);
    // A model against itself has no cell (the battle counts would say 0).
    const z = (data.pairs[matrix] || []).map((line, i) => line.map((v, j) => (i === j ? null : v)));
    const rate = matrix !== "battles";
    const cells = z.map((line) => line.map((v) => (v == null ? "" : rate ? `${Math.round(v * 100)}%` : String(v))));
    const side = Math.max(320, 70 + 46 * labels.length);
    document.getElementById("chart-pairs").style.height = `${side}px`;
    Plotly.react("chart-pairs", [{
      type: "heatmap", x: labels, y: labels, z, text: cells, texttemplate: "%{text}",
      colorscale: c.scale, zmin: rate ? 0 : undefined, zmax: rate ? 1 : undefined,
      hoverongaps: false, xgap: 1, ygap: 1,
      colorbar: { tickfont: { color: c.text }, tickformat: rate ? ".0%" : "d", thickness: 12 },
      hovertemplate: rate ? "%{y} beats %{x}: %{text}<extra></extra>" :
        "%{y} and %{x}: %{text} battles<extra></extra>",
    }], layout(c, {
      xaxis: axis(c, { tickangle: -35, showgrid: false,
        title: { text: "against", font: { color: c.text } } }),
      yaxis: axis(c, { autorange: "reversed", showgrid: false }),
    }), config);
  }

  function draw(data) {
    shown = data;
    if (!window.Plotly) { fetchPlotly(); return; }
    const c = colours();
    ratings(data, c);
    pairs(data, c);
    document.getElementById("charts-loading").hidden = true;
  }

  let requested = false;
  // Loads Plotly when the charts are about to scroll into view, then draws them.
  function fetchPlotly() {
    if (requested) return;
    requested = true;
    const section = document.getElementById("charts");
    const load = () => {
      const script = document.createElement("script");
      script.src = section.dataset.plotly;
      script.addEventListener("load", () => shown && draw(shown));
      document.head.appendChild(script);
    };
    const near = new IntersectionObserver((entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      near.disconnect();
      load();
    });
    near.observe(section);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll(".chart-choice button")) {
      button.addEventListener("click", () => {
        matrix = button.dataset.matrix;
        for (const other of document.querySelectorAll(".chart-choice button")) {
          other.classList.toggle("chosen", other === button);
          other.setAttribute("aria-pressed", String(other === button));
        }
        if (shown) draw(shown);
      });
    }
    // The theme button toggles a class on <html>: redraw in the new colours at once.
    new MutationObserver(() => shown && draw(shown))
      .observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
  });

  return { draw };
})();
