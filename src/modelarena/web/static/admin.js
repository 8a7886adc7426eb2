// The admin page: a token opens the conversation browser, the vote statistics, exports,
// the model settings and the flagged battles, all through /api/admin; "Sign out" forgets
// the token. Conversation text is shown as plain text, never as HTML.
"use strict";

const WINNER_WORDS = {
  model_a: "A is better", model_b: "B is better", tie: "Tie", "tie (bothbad)": "Both are bad",
};
const MODE_WORDS = { battle: "Blind battle", side_by_side: "Side by side", chat: "Direct chat" };

document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const status = $("admin-status");

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function button(label, onClick) {
    const node = element("button", label);
    node.type = "button";
    node.addEventListener("click", async () => {
      node.disabled = true;
      try {
        await onClick();
      } catch (error) {
        status.textContent = error.message;
      } finally {
        node.disabled = false;
      }
    });
    return node;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
      tr.appendChild(td);
    }
    return tr;
  }

  async function loadModels() {
    const { models } = await api.json("GET", "/api/admin/models");
    const body = $("models").querySelector("tbody");
    body.replaceChildren();
    for (const model of models) {
      const enabled = element("input");
      enabled.type = "checkbox";
      enabled.checked = model.enabled_override ?? model.configured_enabled;
      enabled.setAttribute("aria-label", `${model.name} enabled`);
      const weight = element("input");
      weight.type = "number";
      weight.min = "0";
      weight.step = "any";
      weight.value = model.weight_override ?? model.configured_weight;
      weight.setAttribute("aria-label", `${model.name} weight`);
      const path = `/api/admin/models/${encodeURIComponent(model.name)}`;
      const actions = element("span", undefined, "actions");
      const setState = (state, done) => button(
        { active: "Resume", paused: "Pause", retired: "Retire" }[state], async () => {
          if (state === "retired" && !confirm(`Retire ${model.name}? It stops serving; its votes stay.`)) return;
          await api.json("PATCH", path, { state });
          status.textContent = `${model.name} ${done}.`;
          await loadModels();
        });
      if (model.state === "active") actions.append(setState("paused", "is paused"));
      if (model.state !== "active") actions.append(setState("active", "is back in service"));
      if (model.state !== "retired") actions.append(setState("retired", "is retired"));
      actions.append(
        button("Save", async () => {
          await api.json("PATCH", path, { enabled: enabled.checked, weight: Number(weight.value) });
          status.textContent = `Saved ${model.name}.`;
          await loadModels();
        }),
        button("Reset", async () => {
          await api.json("PATCH", path, { enabled: null, weight: null });
          status.textContent = `${model.name} follows its configuration again.`;
          await loadModels();
        }),
      );
      const state = element("span", model.state, `state ${model.state}`);
      if (model.unavailable) state.title = model.unavailable;
      const loading = model.state === "active" && !model.served ? " (loading…)" :
        model.state !== "active" && model.served ? " (finishing its answers)" : "";
      const tr = row([model.name, state, (model.in_service ? "yes" : "no") + loading, enabled, weight, actions]);
      tr.dataset.model = model.name;
      body.appendChild(tr);
    }
  }

  // -- adding a model: the form, its checks, and "Test it" -------------------------------
  const form = $("add-model");
  const formStatus = $("model-form-status");

  function showEngineFields() {
    const engine = form.elements.engine.value;
    for (const label of form.querySelectorAll("[data-engine]")) {
      label.hidden = label.dataset.engine !== engine;
    }
  }

  function definition() {
    const fields = {};
    for (const input of form.querySelectorAll("input, select")) {
      if (input.closest("label")?.hidden) continue;
      if (input.type === "checkbox") {
        if (input.checked) fields[input.name] = true;
      } else if (input.value.trim() !== "") {
        fields[input.name] = input.type === "number" ? Number(input.value) : input.value.trim();
      }
    }
    return fields;
  }

  function clearErrors() {
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    formStatus.textContent = "";
    formStatus.className = "";
  }

  function fail(message, param) {
    const input = param && form.elements[param.split(".")[0]];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    formStatus.textContent = message;
    formStatus.className = "error";
  }

  function checked() {
    clearErrors();
    const fields = definition();
    const name = form.elements.name;
    if (!name.value.trim() || !name.checkValidity()) {
      fail("Give the model a name: letters, digits and . _ : / - (at most 128).", "name");
      return null;
    }
    if (fields.engine === "openai" && !fields.base_url) {
      fail("An upstream needs its base URL, e.g. http://host:8000/v1.", "base_url");
      return null;
    }
    if (fields.engine === "llamacpp" && !fields.path) {
      fail("A local model needs the path of its GGUF file.", "path");
      return null;
    }
    return fields;
  }

  async function submit(path, fields, busyText) {
    formStatus.textContent = busyText;
    try {
      return await api.json("POST", path, fields);
    } catch (error) {
      fail(error.message, error.param);
      return null;
    }
  }

  form.elements.engine.addEventListener("change", showEngineFields);
  $("test-model").addEventListener("click", async (event) => {
    const fields = checked();
    if (!fields) return;
    event.target.disabled = true;
    const trial = await submit("/api/admin/models/test", fields, "Sending one prompt…");
    event.target.disabled = false;
    if (!trial) return;
    const answer = $("test-answer");
    answer.textContent = trial.answer;
    answer.hidden = false;
    formStatus.textContent = `Answered in ${Math.round(trial.latency_ms)} ms, first token after ` +
      `${Math.round(trial.first_token_ms)} ms (${trial.completion_tokens} tokens, ` +
      `finish: ${trial.finish_reason ?? "none"}).`;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = checked();
    if (!fields) return;
    const added = await submit("/api/admin/models", fields, "Checking and adding…");
    if (!added) return;
    form.reset();
    showEngineFields();
    $("test-answer").hidden = true;
    formStatus.textContent = `Added ${added.name}; it enters service within seconds.`;
    await loadModels();
  });
  showEngineFields();

  async function loadFlags() {
    const query = $("unreviewed").checked ? "?unreviewed=true" : "";
    const { flags } = await api.json("GET", `/api/admin/flags${query}`);
    const body = $("flags").querySelector("tbody");
    body.replaceChildren();
    $("flags-message").textContent = flags.length ? "" : "No flags to review.";
    for (const flag of flags) {
      const review = (excluded) => async () => {
        await api.json("PATCH", `/api/admin/flags/${flag.id}`, { excluded });
        status.textContent = excluded ? "The battle stays out of the ratings." :
          "The battle counts in the ratings again.";
        await loadFlags();
      };
      const actions = element("span", undefined, "actions");
      actions.append(button("Read", () => showConversation(flag.conversation)),
        button("Keep out", review(true)), button("Count it", review(false)));
      const state = (flag.excluded ? "excluded" : "counted") + (flag.reviewed_at ? " (reviewed)" : "");
      const tr = row([flag.kind, flag.detail, new Date(flag.created_at).toLocaleString(), state, actions]);
      tr.dataset.flag = flag.id;
      body.appendChild(tr);
    }
  }

  function showConversation(id) { return readInto($("conversation"), id); }

  // Shows a stored conversation in `pane`: its models, vote, flags, and each turn's
  // prompt and answers, with a direct chat's thumbs and the reason and comment given.
  async function readInto(pane, id, closeButton) {
    const conversation = await api.json("GET", `/api/admin/conversations/${encodeURIComponent(id)}`);
    const title = element("h2", `${MODE_WORDS[conversation.mode] ?? conversation.mode} ${conversation.id}`, "pane-title");
    title.id = `${pane.id}-title`;
    const vote = conversation.mode === "chat" ? "" :
      ` · vote: ${WINNER_WORDS[conversation.winner] ?? "none yet"}`;
    pane.replaceChildren(title, element("p", `Models: ${conversation.models.join(" vs ")}${vote}`, "intro"));
    if (conversation.flags.length) {
      pane.appendChild(element("p", "Flags: " + conversation.flags.map((f) =>
        `${f.kind} (${f.excluded ? "kept out" : "counted"})`).join(", "), "intro"));
    }
    conversation.turns.forEach((turn, number) => {
      const block = element("div", undefined, "turn");
      block.appendChild(element("div", turn.prompt, "user"));
      ["a", "b"].forEach((side, index) => {
        const name = conversation.models[index];
        if (!name) return;
        const answer = turn[side];
        block.appendChild(element("h3", `Turn ${number + 1}, ${name}`, "org"));
        block.appendChild(element("div", answer.error ? `Error: ${answer.error}` : answer.answer ?? "",
          answer.error ? "answer plain failed" : "answer plain"));
      });
      if (turn.feedback) block.appendChild(feedbackNote(turn.feedback));
      pane.appendChild(block);
    });
    if (closeButton) pane.appendChild(closeButton);
    pane.hidden = false;
    pane.scrollIntoView({ behavior: "smooth" });
  }

  function feedbackNote(feedback) {
    const note = element("p", undefined, `feedback-note ${feedback.rating > 0 ? "up" : "down"}`);
    note.appendChild(element("strong", feedback.rating > 0 ? "▲ Thumbs up" : "▼ Thumbs down"));
    if (feedback.reason) note.append(` · ${reasonWords(feedback.reason)}`);
    if (feedback.comment) note.appendChild(element("q", feedback.comment, "feedback-comment"));
    return note;
  }

  function reasonWords(reason) { return reason.replaceAll("_", " "); }

  // -- the conversation browser -----------------------------------------------------------
  const browse = { page: 1, pages: 1, opener: null, asked: 0 };

  function query(form) {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) params.set(name, value);
    return params;
  }

  function outcomeText(row) {
    if (row.mode !== "chat") return row.winner ? WINNER_WORDS[row.winner] : "not voted";
    const parts = [];
    if (row.thumbs_up) parts.push(`▲ ${row.thumbs_up}`);
    if (row.thumbs_down) parts.push(`▼ ${row.thumbs_down}`);
    if (row.reasons.length) parts.push(`(${row.reasons.map(reasonWords).join(", ")})`);
    return parts.join(" ") || "no thumbs";
  }

  async function loadConversations() {
    const params = query($("browse-filters"));
    params.set("page", browse.page);
    const asked = ++browse.asked;
    const answer = await api.json("GET", `/api/admin/conversations?${params}`);
    if (asked !== browse.asked) return;  // a later request (other filters) answers instead
    Object.assign(browse, { page: answer.page, pages: answer.pages });
    const body = $("conversations").querySelector("tbody");
    body.replaceChildren();
    for (const item of answer.conversations) {
      const view = button("View", async () => {
        browse.opener = view;
        await readInto($("reader"), item.id, closeReaderButton());
        $("reader").focus({ preventScroll: true });
      });
      const tr = row([
        new Date(item.created_at).toLocaleString(), MODE_WORDS[item.mode] ?? item.mode,
        item.models.join(" vs "), element("span", item.first_prompt || "(no message)", "prompt-cell"),
        outcomeText(item), item.flags.join(", "), view,
      ]);
      tr.dataset.conversation = item.id;
      body.appendChild(tr);
    }
    const { total } = answer;
    $("browse-count").textContent = total === 0 ? "No conversation matches." :
      `${total} conversation${total === 1 ? "" : "s"} match.`;
    $("page-number").textContent = `Page ${browse.page} of ${browse.pages}`;
    $("previous-page").disabled = browse.page <= 1;
    $("next-page").disabled = browse.page >= browse.pages;
  }

  function closeReaderButton() {
    return button("Close", () => {
      $("reader").hidden = true;
      $("reader").replaceChildren();
      if (browse.opener?.isConnected) browse.opener.focus();
    });
  }

  // -- vote statistics ----------------------------------------------------------------------
  function percent(share) { return share === null ? "–" : `${Math.round(share * 100)}%`; }

  function bar(value, top, text) {
    const box = element("span", undefined, "bar-cell");
    const track = element("span", undefined, "bar");
    const fill = element("span", undefined, "bar-fill");
    fill.style.width = `${top ? Math.round((100 * value) / top) : 0}%`;
    track.setAttribute("aria-hidden", "true");
    track.appendChild(fill);
    box.append(element("span", text), track);
    return box;
  }

  async function loadStats() {
    const { models, days } = await api.json("GET", `/api/admin/stats?${query($("stats-filters"))}`);
    const modelBody = $("model-stats").querySelector("tbody");
    modelBody.replaceChildren();
    for (const m of models) {
      const reasons = Object.entries(m.reasons).map(([r, n]) => `${reasonWords(r)} (${n})`).join(", ");
      const tr = row([m.model, m.votes, m.wins, m.losses, m.ties, m.both_bad,
        bar(m.win_rate ?? 0, 1, percent(m.win_rate)), m.thumbs_up, m.thumbs_down, reasons]);
      tr.dataset.model = m.model;
      modelBody.appendChild(tr);
    }
    const dayBody = $("day-stats").querySelector("tbody");
    dayBody.replaceChildren();
    const busiest = Math.max(0, ...days.map((d) => d.votes));
    for (const d of days) {
      const o = d.outcomes;
      const tr = row([d.day, bar(d.votes, busiest, String(d.votes)), o.model_a ?? 0, o.model_b ?? 0,
        o.tie ?? 0, o["tie (bothbad)"] ?? 0, d.thumbs_up, d.thumbs_down]);
      tr.dataset.day = d.day;
      dayBody.appendChild(tr);
    }
    $("stats-message").textContent = models.length ? "" : "No votes or thumbs in this range.";
  }

  // -- exports --------------------------------------------------------------------------------
  const exportForm = $("export");

  function showExportOptions() {
    const battles = exportForm.elements.what.value === "battles";
    for (const label of exportForm.querySelectorAll(".battles-only")) label.hidden = !battles;
  }

  exportForm.elements.what.addEventListener("change", () => {
    exportForm.elements.format.value = exportForm.elements.what.value === "battles" ? "fastchat" : "jsonl";
    showExportOptions();
  });
  exportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { what, format, include_named: named, include_excluded: excluded } = exportForm.elements;
    const params = new URLSearchParams({ format: format.value });
    if (what.value === "battles") {
      params.set("include_named", named.checked);
      params.set("include_excluded", excluded.checked);
    }
    const said = $("export-status");
    said.textContent = "Preparing the file…";
    try {
      const response = await api.call("GET", `/api/admin/export/${what.value}?${params}`);
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ??
        `modelarena-${what.value}`;
      const link = element("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      said.textContent = `Downloaded ${response.headers.get("X-Records")} records as ${name}.`;
    } catch (error) {
      said.textContent = error.message;
    }
  });
  showExportOptions();

  // -- signing in and out -----------------------------------------------------------------
  function fillModelChoices(names) {
    for (const select of document.querySelectorAll(".model-choice")) {
      const chosen = select.value;
      select.replaceChildren(select.options[0]);
      for (const name of names) select.appendChild(new Option(name, name));
      select.value = names.includes(chosen) ? chosen : "";
    }
  }

  async function open(token) {
    api.headers.Authorization = `Bearer ${token}`;
    const { models } = await api.json("GET", "/api/admin/models");
    fillModelChoices(models.map((m) => m.name));
    browse.page = 1;
    await Promise.all([loadModels(), loadFlags(), loadConversations(), loadStats()]);
    sessionStorage.setItem("admin-token", token);
    $("admin-panels").hidden = false;
    $("login").hidden = true;
    $("sign-out").hidden = false;
    status.textContent = "";
  }

  // Forgets the token (this tab keeps it only in its session storage), takes every
  // admin view off the page and shows the sign-in form again.
  function signOut(message) {
    sessionStorage.removeItem("admin-token");
    delete api.headers.Authorization;
    $("admin-panels").hidden = true;
    for (const body of $("admin-panels").querySelectorAll("tbody")) body.replaceChildren();
    for (const pane of [$("reader"), $("conversation")]) {
      pane.replaceChildren();
      pane.hidden = true;
    }
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("token").value = "";
    $("token").focus();
    status.textContent = message;
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await open($("token").value.trim());
    } catch (error) {
      delete api.headers.Authorization;
      $("admin-panels").hidden = true;
      status.textContent = error.message;
    }
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("unreviewed").addEventListener("change", () => loadFlags().catch((e) => { status.textContent = e.message; }));
  const shown = (load) => (event) => {
    event?.preventDefault();
    load().catch((error) => { status.textContent = error.message; });
  };
  $("browse-filters").addEventListener("submit", shown(() => { browse.page = 1; return loadConversations(); }));
  $("browse-filters").addEventListener("reset", () => setTimeout(shown(() => { browse.page = 1; return loadConversations(); })));
  $("previous-page").addEventListener("click", shown(() => { browse.page -= 1; return loadConversations(); }));
  $("next-page").addEventListener("click", shown(() => { browse.page += 1; return loadConversations(); }));
  $("stats-filters").addEventListener("submit", shown(loadStats));
  const saved = sessionStorage.getItem("admin-token");
  if (saved) open(saved).catch(() => signOut(""));
});
