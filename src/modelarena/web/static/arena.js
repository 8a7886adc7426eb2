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
  // The round on screen: its conversation's public state (null before the first message)
  // and whether a request is in flight. "New round" replaces the object; a request of an
  // abandoned round still finishes, but must leave the page alone (check `mine === round`
  // after every await).
  let round = { conversation: null, busy: false };
  let imageId = null;
  let models = [];

  function setStatus(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  function pane(side) { return root.querySelector(`.pane[data-side="${side}"]`); }

  // Enables what the conversation's state allows, and nothing while a request is in flight.
  function setControls() {
    const { conversation: c, busy } = round;
    voteButtons.forEach((b) => { b.disabled = busy || !c || !c.votable; });
    $("send").disabled = busy || (c !== null && !c.can_continue);
    prompt.disabled = $("send").disabled;
    $("regenerate").disabled = busy || !c || !c.turns.length || c.winner !== null;
  }

  // Marks the current round busy and returns it.
  function begin(status) {
    round.busy = true;
    setControls();
    setStatus(status);
    return round;
  }

  // Ends a request of `mine`; true when that round is still the one on screen.
  function finish(mine) {
    mine.busy = false;
    if (mine !== round) return false;
    setControls();
    return true;
  }

  function addTurn(text, image) {
    const { id, turns } = round.conversation;
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
      if (mode === "chat") turn.appendChild(thumbs(id, turns.length));
      pane(side).querySelector(".turns").appendChild(turn);
      nodes[side] = answer;
    }
    return nodes;
  }

  function thumbs(conversationId, turnIndex) {
    const box = document.createElement("div");
    box.className = "thumbs";
    for (const [label, rating] of [["▲ Good", 1], ["▼ Bad", -1]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.setAttribute("aria-label", rating > 0 ? "Thumbs up" : "Thumbs down");
      button.addEventListener("click", async () => {
        try {
          await api.json("POST", `/api/conversations/${conversationId}/feedback`,
            { turn: turnIndex, rating });
          box.querySelectorAll("button").forEach((b) => b.classList.remove("chosen"));
          button.classList.add("chosen");
          if (box.isConnected) setStatus("Thanks for the feedback.");
        } catch (error) { if (box.isConnected) setStatus(error.message, true); }
      });
      box.appendChild(button);
    }
    return box;
  }

  async function startConversation() {
    const body = { mode, vision: imageId !== null };
    if (mode !== "battle") {
      body.models = sides.map((s) => $(`model-${s}`).value);
      body.sampling = {
        temperature: Number($("temperature").value),
        top_p: Number($("top-p").value),
        max_tokens: Number($("max-tokens").value),
      };
    }
    return api.json("POST", "/api/conversations", body);
  }

  // Streams a turn's answers. `placeholders` runs when the server has accepted the request
  // (its "start" event) and returns the answer node of each side; a request refused before
  // that leaves the page as it was, apart from the error in the status line.
  async function run(mine, path, body, placeholders) {
    let nodes = null;
    let final = null;
    let failure = null;
    try {
      await api.stream(path, body, (event) => {
        if (mine !== round) return;  // abandoned by "New round": leave the page alone
        if (event.type === "start") {
          nodes = placeholders();
        } else if (event.type === "delta" || event.type === "answer") {
          nodes[event.side].innerHTML = event.html;  // sanitised on the server
          nodes[event.side].classList.toggle("pending", event.type === "delta");
        } else if (event.type === "error") {
          nodes[event.side].textContent = event.message;
          nodes[event.side].className = "answer failed";
        } else if (event.type === "done") {
          final = event;
        }
      });
      if (!final) throw new Error("The answers stopped early; regenerate or start a new round.");
    } catch (error) { failure = error; }
    try {  // the state as stored, once the server took the request
      const path = `/api/conversations/${mine.conversation.id}`;
      if (nodes) mine.conversation = await api.json("GET", path);
    } catch (error) { failure = failure || error; }
    if (!finish(mine)) return;
    if (failure) setStatus(failure.message, true);
    else if (mode === "chat") {
      setStatus(final.can_continue ? "Answered." : "This chat is finished; start a new one.");
    }
    else setStatus(final.votable ? "Which answer is better?" :
      "This round cannot be voted; regenerate or start a new round.", !final.votable);
  }

  async function send(event) {
    event.preventDefault();
    const text = prompt.value;
    if (!text.trim() || round.busy) return;
    const mine = begin("Generating…");
    if (!mine.conversation) {
      try {
        const started = await startConversation();
        if (mine !== round) return;
        mine.conversation = started;
      } catch (error) {
        if (!finish(mine)) return;
        setStatus(error.message, true);
        if (error.status === 403) $("terms").showModal();
        return;
      }
      root.querySelectorAll(".controls select, .controls input").forEach((e) => { e.disabled = true; });
    }
    const image = imageId;
    const path = `/api/conversations/${mine.conversation.id}/messages`;
    await run(mine, path, { prompt: text, image }, () => {
      prompt.value = "";
      clearImage();
      return addTurn(text, image);
    });
  }

  async function regenerate() {
    if (!round.conversation || round.busy) return;
    const mine = begin("Generating…");
    await run(mine, `/api/conversations/${mine.conversation.id}/regenerate`, undefined, () => {
      const nodes = {};
      for (const side of sides) {
        const answers = pane(side).querySelectorAll(".turn .answer");
        nodes[side] = answers[answers.length - 1];
        nodes[side].className = "answer pending";
        nodes[side].textContent = "…";
      }
      return nodes;
    });
  }

  function reveal(revealed) {
    for (const side of sides) {
      const model = revealed[side];
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
  }

  async function vote(winner) {
    if (!round.conversation || round.busy) return;
    const mine = begin("Saving your vote…");
    try {
      const path = `/api/conversations/${mine.conversation.id}/vote`;
      const result = await api.json("POST", path, { winner });
      Object.assign(mine.conversation, { winner, votable: false, can_continue: false });
      if (finish(mine)) {
        reveal(result.models);
        setStatus("Thanks for voting! Start a new round to battle again.");
      }
    } catch (error) {
      if (finish(mine)) setStatus(error.message, true);
    }
  }

  function reset() {
    round = { conversation: null, busy: false };
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
