// The live leaderboard: fetch the latest snapshot, filter and sort it in the page, draw
// the rating intervals and vote counts with the locally served Plotly.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const columns = [
    ["rank_upper", "Rank (UB)"], ["display_name", "Model"], ["rating", "Rating"],
    ["ci", "95% CI"], ["num_battles", "Votes"], ["organization", "Organization"],
    ["license", "Licence"], ["parameters", "Size"], ["context_length", "Context"],
  ];
  let data = null;
  let sortKey = "rating";
  let descending = true;

  function value(row, key) {
    if (key.startsWith("score:")) return row.scores[key.slice(6)];
    if (key === "ci") return row.ci_upper - row.ci_lower;
    if (key === "display_name") return row.display_name || row.model;
    return row[key];
  }

  function cell(row, key) {
    const v = value(row, key);
    if (key === "ci") {
      return row.ci_lower == null ? "" :
        `+${(row.ci_upper - row.rating).toFixed(0)} / −${(row.rating - row.ci_lower).toFixed(0)}`;
    }
    if (key === "rating") return v == null ? "" : v.toFixed(0);
    if (typeof v === "number" && key.startsWith("score:")) return v.toFixed(2);
    if (key === "parameters" && v) return Number(v) >= 1e9 ? `${(v / 1e9).toFixed(1)}B` : `${Math.round(v / 1e6)}M`;
    return v == null ? "" : String(v);
  }

  function filtered() {
    const org = $("organization").value;
    const license = $("license").value;
    const minVotes = Number($("min-votes").value) || 0;
    const search = $("search").value.trim().toLowerCase();
    const deprecated = $("deprecated").checked;
    return data.rows.filter((r) =>
      (deprecated || !r.deprecated) && (!org || r.organization === org) && (!license || r.license === license) &&
      r.num_battles >= minVotes &&
      (!search || `${r.model} ${r.display_name || ""}`.toLowerCase().includes(search)));
  }

  function options(select, values) {
    const chosen = select.value;
    select.replaceChildren();
    const all = document.createElement("option");
    all.value = "";
    all.textContent = "all";
    select.appendChild(all);
    for (const v of [...new Set(values.filter(Boolean))].sort()) {
      const option = document.createElement("option");
      option.value = v;
      option.textContent = v;
      select.appendChild(option);
    }
    select.value = chosen;
  }

  function render() {
    const all = columns.concat(data.benchmarks.map((b) => [`score:${b}`, b]));
    const head = document.querySelector("#board thead tr");
    head.replaceChildren();
    for (const [key, label] of all) {
      const th = document.createElement("th");
      th.textContent = label + (key === sortKey ? (descending ? " ▼" : " ▲") : "");
      th.dataset.key = key;
      th.tabIndex = 0;
      th.addEventListener("click", () => sortBy(key));
      head.appendChild(th);
    }
    const rows = filtered().sort((x, y) => {
      const a = value(x, sortKey); const b = value(y, sortKey);
      const order = a == null ? 1 : b == null ? -1 : a < b ? -1 : a > b ? 1 : 0;
      return descending ? -order : order;
    });
    const body = document.querySelector("#board tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [key] of all) {
        const td = document.createElement("td");
        td.textContent = cell(row, key);
        if (key === "display_name") {
          td.title = row.model;
          if (row.deprecated) {
            const note = document.createElement("span");
            note.className = "deprecated";
            note.textContent = " (deprecated)";
            td.appendChild(note);
          }
        }
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    $("board-message").textContent = data.message || "";
    charts(rows);
  }

  function charts(rows) {
    if (!window.Plotly) return;
    const dark = document.documentElement.classList.contains("dark");
    const layout = (title) => ({
      title: { text: title }, margin: { t: 40, l: 50, r: 10, b: 120 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: dark ? "#ddd" : "#222" },
    });
    const ranked = [...rows].sort((a, b) => b.rating - a.rating);
    const names = ranked.map((r) => r.display_name || r.model);
    Plotly.react("chart-ratings", [{
      type: "scatter", mode: "markers", x: names, y: ranked.map((r) => r.rating),
      error_y: { type: "data", symmetric: false,
        array: ranked.map((r) => r.ci_upper - r.rating),
        arrayminus: ranked.map((r) => r.rating - r.ci_lower) },
    }], layout("Rating with 95% interval"), { displayModeBar: false, responsive: true });
    Plotly.react("chart-votes", [{ type: "bar", x: names, y: ranked.map((r) => r.num_battles) }],
      layout("Votes per model"), { displayModeBar: false, responsive: true });
  }

  function sortBy(key) {
    descending = key === sortKey ? !descending : key !== "rank_upper";
    sortKey = key;
    render();
  }

  async function load() {
    const category = $("category").value || "all";
    try {
      data = await api.json("GET", `/api/leaderboard?category=${encodeURIComponent(category)}`);
    } catch (error) {
      $("board-message").textContent = error.message;
      return;
    }
    const select = $("category");
    if (select.options.length !== data.categories.length) {
      select.replaceChildren();
      for (const name of data.categories) {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        select.appendChild(option);
      }
      select.value = category;
    }
    options($("organization"), data.rows.map((r) => r.organization));
    options($("license"), data.rows.map((r) => r.license));
    const when = data.computed_at ? new Date(data.computed_at * 1000).toLocaleTimeString() : "not yet";
    $("summary").textContent = `${data.votes} votes in the ratings; ${data.battles} in this ` +
      `category. Updated ${when}; refreshes by itself.`;
    $("csv").href = `/api/leaderboard.csv?category=${encodeURIComponent(category)}`;
    $("json").href = `/api/leaderboard?category=${encodeURIComponent(category)}`;
    render();
  }

  $("category").addEventListener("change", load);
  for (const id of ["organization", "license", "min-votes", "search", "deprecated"]) {
    $(id).addEventListener("input", () => data && render());
  }
  load();
  setInterval(load, 5000);
});
