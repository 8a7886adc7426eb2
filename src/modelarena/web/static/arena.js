// The battle, side-by-side and chat pages: create a conversation, stream both answers,
// vote or give thumbs, reveal, and start again.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("arena");
  const mode = root.dataset.mode;
  const sides = mode === "chat" ? ["a"] : ["a", "b"];
  const $ = (id) => document.getElementById(id);
  const statusLine = $("status");
  const prompt = $("prompt");
  const voteButtons = [...root.querySelectorAll(".votes button")];
  let conversation = null;   // the conversation's public state
  let busy = false;
  let imageId = null;
  let models = [];

  function setStatus(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  function pane(side) { return root.querySelector(`.pane[data-side="${side}"]`); }

  function setControls({ votable = false, canContinue = true } = {}) {
    voteButtons.forEach((b) => { b.disabled = busy || !votable; });
    $("send").disabled = busy || !canContinue;
    prompt.disabled = busy || !canContinue;
    $("regenerate").disabled = busy || !conversation || !conversation.turns.length ||
      conversation.winner !== null;
  }

  function addTurn(text, image) {
    const nodes = {};
    for (const side of sides) {
      const turn = document.createElement("div");
      turn.className = "turn";
      const user = document.createElement("div");
      user.className = "user";
      user.textContent = text;
      if (image) {
        const img = document.createElement("img");
        img.src = `/api/images/${image}`;
        img.alt = "attached image";
        user.appendChild(img);
      }
      const answer = document.createElement("div");
      answer.className = "answer pending";
      answer.textContent = "…";
      turn.append(user, answer);
      if (mode === "chat") turn.appendChild(thumbs(conversation.turns.length));
      pane(side).querySelector(".turns").appendChild(turn);
      nodes[side] = answer;
    }
    return nodes;
  }

  function thumbs(turnIndex) {
    const box = document.createElement("div");
    box.className = "thumbs";
    for (const [label, rating] of [["▲ Good", 1], ["▼ Bad", -1]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.setAttribute("aria-label", rating > 0 ? "Thumbs up" : "Thumbs down");
      button.addEventListener("click", async () => {
        try {
          await api.json("POST", `/api/conversations/${conversation.id}/feedback`,
            { turn: turnIndex, rating });
          box.querySelectorAll("button").forEach((b) => b.classList.remove("chosen"));
          button.classList.add("chosen");
          setStatus("Thanks for the feedback.");
        } catch (error) { setStatus(error.message, true); }
      });
      box.appendChild(button);
    }
    return box;
  }

  async function ensureConversation() {
    if (conversation) return;
    const body = { mode, vision: imageId !== null };
    if (mode !== "battle") {
      body.models = sides.map((s) => $(`model-${s}`).value);
      body.sampling = {
        temperature: Number($("temperature").value),
        top_p: Number($("top-p").value),
        max_tokens: Number($("max-tokens").value),
      };
    }
    conversation = await api.json("POST", "/api/conversations", body);
    root.querySelectorAll(".controls select, .controls input").forEach((e) => { e.disabled = true; });
  }

  async function run(path, body, nodes) {
    busy = true;
    setControls();
    setStatus("Generating…");
    let final = null;
    try {
      await api.stream(path, body, (event) => {
        if (event.type === "delta" || event.type === "answer") {
          nodes[event.side].innerHTML = event.html;  // sanitised on the server
          nodes[event.side].classList.toggle("pending", event.type === "delta");
        } else if (event.type === "error") {
          nodes[event.side].textContent = event.message;
          nodes[event.side].className = "answer failed";
        } else if (event.type === "done") {
          final = event;
        }
      });
    } catch (error) {
      setStatus(error.message, true);
    } finally {
      busy = false;
    }
    conversation = await api.json("GET", `/api/conversations/${conversation.id}`);
    if (final) {
      if (mode === "chat") setStatus(final.can_continue ? "Answered." : "This chat is finished; start a new one.");
      else setStatus(final.votable ? "Which answer is better?" :
        "This round cannot be voted; regenerate or start a new round.", !final.votable);
    }
    setControls({ votable: conversation.votable, canContinue: conversation.can_continue });
  }

  async function send(event) {
    event.preventDefault();
    const text = prompt.value;
    if (!text.trim() || busy) return;
    setStatus("Generating…");
    try {
      await ensureConversation();
    } catch (error) {
      setStatus(error.message, true);
      if (error.status === 403) document.getElementById("terms").showModal();
      return;
    }
    const image = imageId;
    const nodes = addTurn(text, image);
    prompt.value = "";
    clearImage();
    await run(`/api/conversations/${conversation.id}/messages`, { prompt: text, image }, nodes);
  }

  async function regenerate() {
    if (!conversation || busy) return;
    const nodes = {};
    for (const side of sides) {
      const answers = pane(side).querySelectorAll(".turn .answer");
      nodes[side] = answers[answers.length - 1];
      nodes[side].className = "answer pending";
      nodes[side].textContent = "…";
    }
    await run(`/api/conversations/${conversation.id}/regenerate`, undefined, nodes);
  }

  async function vote(winner) {
    if (!conversation || busy) return;
    try {
      const result = await api.json("POST", `/api/conversations/${conversation.id}/vote`, { winner });
      for (const side of sides) {
        const model = result.models[side];
        const title = pane(side).querySelector(".pane-title");
        title.textContent = `Model ${side.toUpperCase()}: ${model.display_name}`;
        if (model.organization) {
          const org = document.createElement("span");
          org.className = "org";
          org.textContent = ` · ${model.organization}`;
          title.appendChild(org);
        }
        title.classList.add("revealed");
      }
      conversation.winner = winner;
      setStatus("Thanks for voting! Start a new round to battle again.");
      setControls({ votable: false, canContinue: false });
    } catch (error) { setStatus(error.message, true); }
  }

  function reset() {
    conversation = null;
    for (const side of sides) {
      pane(side).querySelector(".turns").replaceChildren();
      const title = pane(side).querySelector(".pane-title");
      title.textContent = mode === "chat" ? "Model" : `Model ${side.toUpperCase()}`;
      title.classList.remove("revealed");
    }
    root.querySelectorAll(".controls select, .controls input").forEach((e) => { e.disabled = false; });
    setStatus("");
    setControls();
    prompt.focus();
  }

  function clearImage() {
    imageId = null;
    $("image").value = "";
    $("image-name").textContent = "";
  }

  async function attach() {
    const file = $("image").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("image", file);
    try {
      imageId = (await api.json("POST", "/api/images", form)).id;
      $("image-name").textContent = file.name;
    } catch (error) {
      clearImage();
      setStatus(error.message, true);
    }
  }

  async function loadModels() {
    let answer;
    try {
      answer = await api.json("GET", "/api/models");
    } catch (error) { setStatus(error.message, true); return; }
    models = answer.models;
    if (mode !== "battle") {  // the server's defaults and limits
      $("temperature").value = answer.sampling.temperature;
      $("top-p").value = answer.sampling.top_p;
      $("max-tokens").value = answer.sampling.max_tokens;
      $("max-tokens").max = answer.sampling.max_tokens;
    }
    $("attach-label").hidden = !models.some((m) => m.vision);
    if (mode === "battle") return;
    sides.forEach((side, index) => {
      const select = $(`model-${side}`);
      for (const model of models) {
        const option = document.createElement("option");
        option.value = model.name;
        option.textContent = model.display_name + (model.vision ? " (vision)" : "");
        select.appendChild(option);
      }
      if (models.length > index) select.selectedIndex = index;
    });
  }

  $("composer").addEventListener("submit", send);
  $("regenerate").addEventListener("click", regenerate);
  $("clear").addEventListener("click", reset);
  $("image").addEventListener("change", attach);
  voteButtons.forEach((b) => b.addEventListener("click", () => vote(b.dataset.winner)));
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send(event);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("textarea, input, select") || event.ctrlKey || event.metaKey) return;
    const index = ["1", "2", "3", "4"].indexOf(event.key);
    if (index >= 0 && voteButtons[index] && !voteButtons[index].disabled) vote(voteButtons[index].dataset.winner);
  });
  loadModels();
  setControls();
});
