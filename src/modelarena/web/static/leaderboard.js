// The live leaderboard page: the reader's choices live in the page's address (so a view
// can be shared) and go to the server as they are, which filters the table, the charts
// and the downloads alike; the table sorts in the page, from the keyboard too.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  // [key, heading, sorts descending first]
  const COLUMNS = [
    ["rank_upper", "Rank", false], ["display_name", "Model", false], ["rating", "Rating", true],
    ["ci", "95% interval", true], ["num_battles", "Votes", true],
    ["organization", "Organization", false], ["license", "Licence", false],
    ["parameters", "Size", true], ["context_length", "Context", true],
  ];
  const FILTERS = ["organization", "license_type", "license", "size", "score", "score_min",
    "min_votes", "search", "deprecated"];
  const CATEGORY_NAMES = { all: "All votes", long: "Long prompts", "multi-turn": "Multi-turn",
    code: "Code", math: "Math", hard_prompt: "Hard prompts", coding: "Coding (judged)",
    creative_writing: "Creative writing", instruction_following: "Instruction following" };
  const STYLE_NAMES = { length: "Length", headers: "Headers", lists: "Lists", bold: "Bold" };
  let data = null;
  let shownQuery = "";
  let sort = { key: "rank_upper", descending: false };

  // -- the reader's choices, in the address --------------------------------------------

  function readAddress() {
    const params = new URLSearchParams(location.search);
    $("style").setAttribute("aria-checked", String(params.get("style") !== "false"));
    for (const name of FILTERS) {
      const control = $(name);
      const value = params.get(name);
      if (control.type === "checkbox") control.checked = value === "true";
      else if (value !== null) {
        if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === value)) {
          control.appendChild(new Option(value, value));  // its list arrives with the data
        }
        control.value = value;
      }
    }
    const key = params.get("sort");
    if (key) sort = { key, descending: params.get("order") === "desc" };
    $("score_min").disabled = !$("score").value;
    return params.get("category") || "all";
  }

  function choices(category) {
    const params = new URLSearchParams();
    if (category !== "all") params.set("category", category);
    if ($("style").getAttribute("aria-checked") === "false") params.set("style", "false");
    for (const name of FILTERS) {
      const control = $(name);
      if (control.type === "checkbox") { if (control.checked) params.set(name, "true"); }
      else if (control.value && !(name === "min_votes" && control.value === "0") &&
               !control.disabled) params.set(name, control.value.trim());
    }
    return params;
  }

  function writeAddress(params) {
    const shown = new URLSearchParams(params);
    const topic = new URLSearchParams(location.search).get("topic");  // topic.js's
    if (topic) shown.set("topic", topic);
    if (sort.key !== "rank_upper" || sort.descending) {
      shown.set("sort", sort.key);
      shown.set("order", sort.descending ? "desc" : "asc");
    }
    const query = shown.toString();
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
    const count = FILTERS.filter((name) => params.has(name)).length;
    $("filter-count").textContent = count ? `(${count} on)` : "";
  }

  // -- the table ----------------------------------------------------------------------------

  function value(row, key) {
    if (key.startsWith("score:")) return row.scores[key.slice(6)];
    if (key === "display_name") return (row.display_name || row.model).toLowerCase();
    if (key === "ci") return row.ci_lower;
    return row[key];
  }

  function compare(x, y) {
    let a = value(x, sort.key); let b = value(y, sort.key);
    if (sort.key === "ci" && a === b) { a = x.ci_upper; b = y.ci_upper; }
    if (a == null || b == null) return a == null ? (b == null ? 0 : 1) : -1;  // blanks last
    const order = a < b ? -1 : a > b ? 1 : 0;
    return sort.descending ? -order : order;
  }

  function text(row, key) {
    const v = value(row, key);
    if (key === "ci") {
      return row.ci_lower == null ? "" :
        `${row.ci_lower.toFixed(0)} to ${row.ci_upper.toFixed(0)}`;
    }
    if (key === "rating") return v == null ? "" : v.toFixed(0);
    if (key === "num_battles") return v.toLocaleString("en");
    if (key.startsWith("score:")) return v == null ? "" : Number(v).toFixed(2);
    if (key === "parameters" && v) {
      return v >= 1e9 ? `${Number((v / 1e9).toFixed(1))}B` : `${Math.round(v / 1e6)}M`;
    }
    if (key === "context_length" && v) return v >= 1024 ? `${Math.round(v / 1024)}K` : String(v);
    return v == null ? "" : String(row[key] ?? "");
  }

  function modelCell(row) {
    const td = document.createElement("th");
    td.scope = "row";
    const name = row.display_name || row.model;
    if (row.url && /^https?:\/\//i.test(row.url)) {
      const link = document.createElement("a");
      link.href = row.url;
      link.rel = "noopener noreferrer nofollow";
      link.textContent = name;
      td.appendChild(link);
    } else {
      td.append(name);
    }
    if (row.display_name && row.display_name !== row.model) td.title = row.model;
    if (row.preliminary) td.appendChild(tag("preliminary", "tag"));
    if (row.deprecated) td.appendChild(tag("deprecated", "tag muted"));
    return td;
  }

  function tag(words, className) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = words;
    return span;
  }

  function columns() {
    return COLUMNS.concat(data.benchmarks.map((b) => [`score:${b}`, b, true]));
  }

  function renderHead() {
    const head = document.querySelector("#board thead tr");
    head.replaceChildren();
    for (const [key, label] of columns()) {
      const th = document.createElement("th");
      th.scope = "col";
      const sorted = key === sort.key;
      th.setAttribute("aria-sort", sorted ? (sort.descending ? "descending" : "ascending") : "none");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.dataset.key = key;
      button.textContent = label;
      const arrow = document.createElement("span");
      arrow.setAttribute("aria-hidden", "true");
      arrow.textContent = sorted ? (sort.descending ? " ▼" : " ▲") : "";
      button.appendChild(arrow);
      button.addEventListener("click", () => sortBy(key));
      th.appendChild(button);
      head.appendChild(th);
    }
  }

  function renderBody() {
    const table = $("board");
    for (const old of table.querySelectorAll("tbody")) old.remove();
    const groups = new Map();
    for (const row of data.rows) {
      const group = row.group ?? 0;
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(row);
    }
    for (const [group, rows] of groups) {
      const body = document.createElement("tbody");
      if (group) {
        const tr = document.createElement("tr");
        tr.className = "group-head";
        const th = document.createElement("th");
        th.scope = "rowgroup";
        th.colSpan = columns().length;
        const words = document.createElement("span");  // stays in view as the table scrolls
        words.textContent = `Group ${group}: ranks count within the group`;
        th.appendChild(words);
        tr.appendChild(th);
        body.appendChild(tr);
      }
      for (const row of rows.sort(compare)) {
        const tr = document.createElement("tr");
        if (row.preliminary) tr.className = "preliminary";
        for (const [key, label] of columns()) {
          const cell = key === "display_name" ? modelCell(row) : document.createElement("td");
          if (key !== "display_name") cell.textContent = text(row, key);
          cell.dataset.label = label;
          tr.appendChild(cell);
        }
        body.appendChild(tr);
      }
      table.appendChild(body);
    }
  }

  function sortBy(key) {
    const first = columns().find(([k]) => k === key)[2];
    sort = key === sort.key ? { key, descending: !sort.descending } : { key, descending: first };
    writeAddress(choices(currentCategory()));
    renderHead();
    renderBody();
    document.querySelector(`#board button.sort[data-key="${CSS.escape(key)}"]`).focus();
  }

  // -- the rest of the page --------------------------------------------------------------

  function currentCategory() {
    return $("category").value || "all";
  }

  function fillCategories(chosen) {
    const select = $("category");
    select.replaceChildren();
    for (const { name, battles } of data.categories) {
      const label = CATEGORY_NAMES[name] || name;
      select.appendChild(new Option(`${label} (${battles.toLocaleString("en")} votes)`, name));
    }
    select.value = chosen;
  }

  function fillChoices() {
    for (const [name, values] of [["organization", data.choices.organization],
      ["license", data.choices.license], ["score", data.benchmarks]]) {
      const select = $(name);
      const chosen = select.value;
      const first = select.options[0];
      select.replaceChildren(first);
      for (const v of values) select.appendChild(new Option(v, v));
      if (chosen && !values.includes(chosen)) select.appendChild(new Option(chosen, chosen));
      select.value = chosen;
    }
  }

  function describeStyle() {
    const on = data.style_control;
    const asked = $("style").getAttribute("aria-checked") === "true";
    $("style").textContent = `Style control: ${asked ? "on" : "off"}`;
    if (!on) {
      $("style-help").textContent = asked ? "" :
        "Raw ratings: answers' length and formatting are not taken into account, so " +
        "longer or more formatted answers may win votes for that alone.";
      return;
    }
    const effects = data.coefficients.map((c) => {
      const range = c.lower == null ? "" : ` (${signed(c.lower)} to ${signed(c.upper)})`;
      return `${STYLE_NAMES[c.name] || c.name} ${signed(c.value)}${range}`;
    });
    $("style-help").textContent = "Style control: ratings are adjusted for answer length and " +
      "markdown (headers, lists, bold), so a model does not rank higher for style alone." +
      (effects.length ? " Effect of each on the log-odds of winning, per standard deviation: " +
        `${effects.join("; ")}. Above zero: voters favour more of it.` : "");
  }

  function signed(x) {
    return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
  }

  function describe() {
    const category = CATEGORY_NAMES[data.category] || data.category;
    const when = data.computed_at ?
      new Date(data.computed_at * 1000).toLocaleString("en", { dateStyle: "medium", timeStyle: "short" }) :
      "not yet";
    const inCategory = data.category === "all" ? "" :
      ` (${data.battles.toLocaleString("en")} in ${category})`;
    const rated = data.models ? `, ${data.models} models rated` : "";
    $("summary").textContent = `${data.votes.toLocaleString("en")} votes${inCategory}${rated}. ` +
      `Last updated ${when}; this page updates by itself.`;
    $("preliminary-help").textContent = `Marked preliminary: fewer than ` +
      `${data.rules.preliminary_votes} votes, or an interval wider than ` +
      `± ${data.rules.preliminary_interval} points.`;
    let message = data.message || "";
    if (!data.rows.length && !message) message = "No model matches these filters.";
    if (!data.rows.length && data.models) message += " Clear the filters to see every model.";
    $("board-message").textContent = message;
    $("board-message").hidden = !message;
    const empty = !data.rows.length;
    $("table-wrap").hidden = empty;
    $("scroll-hint").hidden = empty;
    $("charts").hidden = empty;
    $("overview").hidden = empty;
  }

  function renderOverview() {
    const table = $("overview-table");
    const categories = data.overview.categories;
    const head = document.createElement("tr");
    head.appendChild(Object.assign(document.createElement("th"), { scope: "col", textContent: "Model" }));
    for (const name of categories) {
      head.appendChild(Object.assign(document.createElement("th"),
        { scope: "col", textContent: CATEGORY_NAMES[name] || name }));
    }
    table.tHead.replaceChildren(head);
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const row of data.rows) {
      const tr = document.createElement("tr");
      tr.appendChild(Object.assign(document.createElement("th"),
        { scope: "row", textContent: row.display_name || row.model }));
      for (const name of categories) {
        const rank = data.overview.ranks[row.model][name];
        tr.appendChild(Object.assign(document.createElement("td"),
          { textContent: rank == null ? "–" : String(rank) }));
      }
      body.appendChild(tr);
    }
  }

  function render() {
    fillChoices();
    describe();
    describeStyle();
    renderHead();
    renderBody();
    renderOverview();
    if (data.rows.length) boardCharts.draw(data);
  }

  async function load(force) {
    const category = currentCategory();
    const params = choices(category);
    const query = params.toString();
    writeAddress(params);
    $("csv").href = `/api/leaderboard.csv${query ? `?${query}` : ""}`;
    $("json").href = `/api/leaderboard${query ? `?${query}` : ""}`;
    let answer;
    try {
      answer = await api.json("GET", `/api/leaderboard${query ? `?${query}` : ""}`);
    } catch (error) {
      $("board-message").textContent = `The leaderboard could not be loaded: ${error.message}`;
      $("board-message").hidden = false;
      return;
    }
    const same = data && !force && query === shownQuery && answer.computed_at === data.computed_at;
    data = answer;
    shownQuery = query;
    if (!same) {
      fillCategories(category);
      render();
    }
  }

  // The reader's own leaderboard (history.js draws it), or how many votes it still needs.
  async function loadMine() {
    let board;
    try {
      board = await api.json("GET", "/api/leaderboard/mine");
    } catch (_) { return; }
    continuity.showBoard(board);
    $("my-board").open = true;
    const shown = board.enough && board.rows.length;
    $("my-board-hint").textContent = shown ? "" : board.message || "";
    $("my-board-hint").hidden = shown || !board.message;
  }

  function reload() {
    $("score_min").disabled = !$("score").value;
    load(true);
  }

  const initialCategory = readAddress();
  $("category").appendChild(new Option(initialCategory, initialCategory));
  $("category").value = initialCategory;
  $("style").addEventListener("click", () => {
    const on = $("style").getAttribute("aria-checked") !== "true";
    $("style").setAttribute("aria-checked", String(on));
    reload();
  });
  $("category").addEventListener("change", reload);
  for (const name of FILTERS) {
    const control = $(name);
    control.addEventListener(control.type === "search" || control.type === "number" ? "input" : "change",
      debounce(reload, control.type === "search" || control.type === "number" ? 300 : 0));
  }
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("clear-filters").addEventListener("click", () => {
    for (const name of FILTERS) {
      const control = $(name);
      if (control.type === "checkbox") control.checked = false;
      else control.value = name === "min_votes" ? "0" : "";
    }
    reload();
  });
  if (FILTERS.some((name) => new URLSearchParams(location.search).has(name))) {
    $("more-filters").open = true;
  }
  load(true);
  loadMine();
  setInterval(() => load(false), 5000);

  function debounce(action, wait) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(action, wait); };
  }
});
