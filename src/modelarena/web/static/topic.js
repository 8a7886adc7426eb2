// The leaderboard page's "Rankings for your topic": asks the server to rank the models on
// the votes closest to a prompt or topic, and waits (asking again) while it reads the
// prompts of past votes. The topic is kept in the page's address.
"use strict";

(() => {
  const POLL_MS = 2000;
  const REFRESH_MS = 10000;
  const form = document.getElementById("topic-form");
  if (!form) return;
  const input = document.getElementById("topic-q");
  const status = document.getElementById("topic-status");
  const wrap = document.getElementById("topic-wrap");
  const caption = document.getElementById("topic-caption");
  const body = document.querySelector("#topic-board tbody");
  let current = null;  // { query, controller, timer } of the question being answered
  const whole = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function cell(row, text, header) {
    const element = document.createElement(header ? "th" : "td");
    if (header) element.scope = "row";
    element.textContent = text;
    row.append(element);
    return element;
  }

  function interval(row) {
    if (row.ci_lower === null || row.ci_upper === null) return "not known yet";
    return `${whole.format(row.ci_lower)} to ${whole.format(row.ci_upper)}`;
  }

  function show(board) {
    body.replaceChildren();
    for (const row of board.rows) {
      const line = document.createElement("tr");
      cell(line, String(row.rank_upper));
      cell(line, row.display_name || row.model, true);
      cell(line, row.rating === null ? "–" : whole.format(row.rating));
      cell(line, interval(row));
      cell(line, whole.format(row.num_battles));
      body.append(line);
    }
    caption.textContent = `Models ranked for “${board.query}”`;
    wrap.hidden = false;
    const worth = whole.format(board.effective_votes);
    say(
      `Ranked on the ${whole.format(board.embedded)} latest votes, each counting by how close its ` +
      `prompt is to “${board.query}”: together they are worth about ${worth} votes that ` +
      "count fully." + (board.message ? ` ${board.message}` : ""),
    );
  }

  async function ask(query) {
    const controller = new AbortController();
    current = { query, controller, timer: null };
    const asked = current;
    try {
      const board = await api.json(
        "GET", `/api/leaderboard/topic?q=${encodeURIComponent(query)}`, undefined,
        controller.signal,
      );
      if (asked !== current) return;
      const again = (wait) => {
        asked.timer = setTimeout(() => { if (asked === current) ask(query); }, wait);
      };
      if (board.state === "ready") {
        show(board);
        // Ranked on the latest votes read so far: refresh as more are read.
        if (board.embedded < board.total) again(REFRESH_MS);
        return;
      }
      wrap.hidden = true;
      say(board.message);
      if (board.state === "computing") again(POLL_MS);
    } catch (error) {
      if (error.name === "AbortError" || asked !== current) return;
      wrap.hidden = true;
      say(error.message);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (current) {
      current.controller.abort();
      clearTimeout(current.timer);
    }
    const query = input.value.trim();
    if (!query) {
      current = null;
      wrap.hidden = true;
      say("Type a prompt or a topic first.");
      input.focus();
      return;
    }
    remember(query);
    say(`Ranking the models for “${query}”…`);
    ask(query);
  });

  // The topic goes in the page's address (`topic=`), so a topic's ranking can be shared.
  function remember(query) {
    const url = new URL(location.href);
    url.searchParams.set("topic", query);
    history.replaceState(null, "", url);
  }

  const shared = new URLSearchParams(location.search).get("topic");
  if (shared) {
    input.value = shared;
    form.requestSubmit();
  }
})();
