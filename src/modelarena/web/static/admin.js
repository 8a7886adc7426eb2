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
      const tr = row([model.name, model.in_service ? "yes" : "no", enabled, weight, actions]);
      tr.dataset.model = model.name;
      body.appendChild(tr);
    }
  }

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
