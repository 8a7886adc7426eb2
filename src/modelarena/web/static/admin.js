// The admin page: a token opens the model settings and the flagged battles, all through
// /api/admin. Conversation text is shown as plain text, never as HTML.
"use strict";

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

  async function showConversation(id) {
    const conversation = await api.json("GET", `/api/admin/conversations/${encodeURIComponent(id)}`);
    const pane = $("conversation");
    pane.replaceChildren(
      element("h2", `${conversation.mode} ${conversation.id}`, "pane-title"),
      element("p", `Models: ${conversation.models.join(" vs ")} · vote: ${conversation.winner ?? "none"}`, "intro"),
    );
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
      pane.appendChild(block);
    });
    pane.hidden = false;
    pane.scrollIntoView({ behavior: "smooth" });
  }

  async function open(token) {
    api.headers.Authorization = `Bearer ${token}`;
    await Promise.all([loadModels(), loadFlags()]);
    sessionStorage.setItem("admin-token", token);
    $("admin-panels").hidden = false;
    status.textContent = "";
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await open($("token").value.trim());
    } catch (error) {
      $("admin-panels").hidden = true;
      status.textContent = error.message;
    }
  });
  $("unreviewed").addEventListener("change", () => loadFlags().catch((e) => { status.textContent = e.message; }));
  const saved = sessionStorage.getItem("admin-token");
  if (saved) open(saved).catch(() => sessionStorage.removeItem("admin-token"));
});
