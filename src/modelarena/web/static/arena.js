// The battle, side-by-side and chat pages: create a conversation, stream the answers (the
// visitor may stop them), vote or give thumbs, reveal, and start again.
"use strict";

const NEED_TERMS = "Your message was not sent: agree to the terms of use first.";
const PAGE_OF_MODE = { battle: "/", side_by_side: "/side-by-side", chat: "/chat" };
const VOTE_WORDS = {
  model_a: "A is better", model_b: "B is better", tie: "Tie", "tie (bothbad)": "Both are bad",
};

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("arena");
  const mode = root.dataset.mode;
  const sides = mode === "chat" ? ["a"] : ["a", "b"];
  const $ = (id) => document.getElementById(id);
  const statusLine = $("status");
  const prompt = $("prompt");
  const voteButtons = [...root.querySelectorAll(".votes button")];
  const selects = mode === "battle" ? [] : sides.map((side) => $(`model-${side}`));
  const touchOnly = matchMedia("(hover: none)");
  let models = null;  // the lineup (from the server), once loaded
  // The round on screen: its conversation's public state (null before the first message),
  // whether a request is in flight and its stream has begun on the server, and the
  // controller that aborts the latest request ("New round", leaving the page). "New round" replaces the object; a request
  // of an abandoned round must leave the page alone (check `mine === round` after every
  // await).
  let round = newRound();
  const attachment = setUpAttachment({
    upload: uploadImage, whyNot: whyNoImage, report: setStatus, changed: attachmentChanged,
  });

  function newRound() {
    return { conversation: null, busy: false, streaming: false, controller: new AbortController() };
  }

  function setStatus(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  function pane(side) { return root.querySelector(`.pane[data-side="${side}"]`); }

  // -- what the lineup allows -----------------------------------------------------------

  // Why this page cannot be used now, in plain words, or null.
  function whyNoModels() {
    if (models === null || models.length >= sides.length) return null;
    if (!models.length) return "No model is available right now; try again later.";
    const what = mode === "battle" ? "A battle" : "Side by side";
    return `${what} needs two models, and only one is available right now. ` +
      "Try again later, or chat with it in Direct chat.";
  }

  // Why no image can be attached now, in plain words, or null.
  function whyNoImage() {
    if (models === null) return "The models are still loading.";
    const readers = models.filter((m) => m.vision).length;
    if (!readers) return "None of the models here can read images, so images cannot be attached.";
    if (readers < sides.length) {
      const what = mode === "battle" ? "a battle" : "side by side";
      return `Only one model here can read images, and ${what} needs two, so images cannot ` +
        "be attached here. Direct chat can take an image.";
    }
    const c = round.conversation;
    if (c && !c.vision && c.can_continue) {
      return "This conversation started without an image; to send one, start a new round.";
    }
    return null;
  }

  function showNotes() {
    const noModels = whyNoModels();
    $("lineup-note").textContent = noModels || "";
    $("lineup-note").hidden = !noModels;
    const noImage = noModels || models === null ? null : whyNoImage();
    $("image-note").textContent = noImage || "";
    $("image-note").hidden = !noImage;
  }

  function modelNamed(name) { return models.find((m) => m.name === name); }

  function fillChoices() {
    for (const select of selects) {
      for (const model of models) {
        const option = document.createElement("option");
        option.value = model.name;
        option.textContent = model.display_name + (model.vision ? " (reads images)" : "");
        select.appendChild(option);
      }
    }
    syncChoices();
  }

  // Keeps the chosen models different from each other and, with an image attached, able
  // to read it: what may not be chosen is disabled, and a choice that became invalid
  // moves to the first valid model.
  function syncChoices() {
    if (!selects.length) return;  // a battle picks its own models
    const allowed = (name) => attachment.id() === null || modelNamed(name).vision;
    selects.forEach((select, index) => {
      const taken = selects.slice(0, index).map((s) => s.value);
      if (!allowed(select.value) || taken.includes(select.value)) {
        const free = models.find((m) => allowed(m.name) && !taken.includes(m.name));
        if (free) select.value = free.name;
      }
    });
    for (const select of selects) {
      const others = selects.filter((s) => s !== select).map((s) => s.value);
      for (const option of select.options) {
        option.disabled = !allowed(option.value) || others.includes(option.value);
      }
    }
    showChosenNames();
  }

  // The chosen models' names above their panes (side-by-side and chat name them openly).
  function showChosenNames() {
    sides.forEach((side, index) => {
      const model = modelNamed(selects[index].value);
      const label = mode === "chat" ? "Model" : `Model ${side.toUpperCase()}`;
      pane(side).querySelector(".pane-title").textContent =
        model ? `${label}: ${model.display_name}` : label;
    });
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
      fillChoices();
    }
    setControls();
  }

  // -- controls -------------------------------------------------------------------------

  // Enables what the lineup and the conversation's state allow, and nothing while a
  // request is in flight.
  function setControls() {
    const { conversation: c, busy } = round;
    const usable = models !== null && !whyNoModels();
    voteButtons.forEach((b) => { b.disabled = busy || !c || !c.votable; });
    $("send").disabled = busy || !usable || (c !== null && !c.can_continue);
    prompt.disabled = $("send").disabled;
    $("regenerate").disabled = busy || !c || !c.turns.length || c.winner !== null;
    $("attach").disabled = $("send").disabled || whyNoImage() !== null;
    const voted = c !== null && c.winner !== null;
    $("clear").classList.toggle("primary", voted);
    $("send").classList.toggle("primary", !voted);
    for (const input of root.querySelectorAll(".controls select, .controls input")) {
      input.disabled = c !== null;
    }
    showNotes();
  }

  // Marks the current round busy, with a new controller for its request, and returns it.
  function begin(status) {
    round.busy = true;
    round.streaming = false;
    round.controller = new AbortController();
    setControls();
    setStatus(status);
    return round;
  }

  // Ends a request of `mine`; true when that round is still the one on screen.
  function finish(mine) {
    mine.busy = false;
    if (mine !== round) return false;
    $("stop").hidden = true;
    setControls();
    return true;
  }

  // Runs `request`; when the server wants the terms of use accepted first, asks the
  // visitor and, once they agree, runs it again.
  async function withTerms(request) {
    try {
      return await request();
    } catch (error) {
      if (error.code !== "terms_not_accepted") throw error;
      terms.accepted = false;
      if (!(await terms.ask())) throw new Error(NEED_TERMS);
      return request();
    }
  }

  // -- turns ----------------------------------------------------------------------------

  // A turn's boxes on the page (the `index`th: by default the next one).
  function addTurn(text, image, index = round.conversation.turns.length) {
    const { id } = round.conversation;
    const nodes = {};
    for (const side of sides) {
      const turn = document.createElement("div");
      turn.className = "turn";
      const user = document.createElement("div");
      user.className = "user";
      user.textContent = text;
      if (image) {
        const img = document.createElement("img");
        img.src = `/api/images/${encodeURIComponent(image)}`;
        img.alt = "attached image";
        user.appendChild(img);
      }
      turn.appendChild(user);
      nodes[side] = answers.create(turn);
      if (mode === "chat") turn.appendChild(thumbs(id, index));
      pane(side).querySelector(".turns").appendChild(turn);
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
      button.setAttribute("aria-pressed", "false");
      // Stores this rating (with a thumbs down's reason and comment, if given).
      const rate = async (details = {}) => {
        await api.json("POST", `/api/conversations/${conversationId}/feedback`,
          { turn: turnIndex, rating, ...details });
        for (const b of box.querySelectorAll("button")) {
          b.classList.toggle("chosen", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        }
        if (box.isConnected) setStatus("Thanks for the feedback.");
      };
      button.addEventListener("click", () => {
        if (rating < 0) { askWhy(rate); return; }
        rate().catch((error) => { if (box.isConnected) setStatus(error.message, true); });
      });
      box.appendChild(button);
    }
    return box;
  }

  // A thumbs down may say why: one of a few reasons and an optional comment, asked in a
  // dialog. "Send feedback" stores the thumbs down (with neither, if none is given); Cancel
  // or Escape leaves the rating as it was. A refused answer keeps the dialog open, saying why.
  const WHY_REASONS = [
    ["inaccurate", "Wrong or made up"],
    ["unhelpful", "Not helpful"],
    ["ignored_instructions", "Didn’t follow my instructions"],
    ["unsafe", "Harmful or offensive"],
    ["other", "Something else"],
  ];
  const MAX_COMMENT = 1000;
  let why = null;  // the dialog, made on first use, and what its "Send" stores

  function askWhy(save) {
    why = why || makeWhyDialog();
    why.save = save;
    why.form.reset();
    why.error.hidden = true;
    why.count.textContent = `0 of ${MAX_COMMENT} characters`;
    why.dialog.showModal();
  }

  function makeWhyDialog() {
    const make = (tag, props = {}) => Object.assign(document.createElement(tag), props);
    const dialog = make("dialog", { id: "feedback", className: "feedback" });
    dialog.setAttribute("aria-labelledby", "feedback-title");
    const form = make("form");
    const reasons = make("fieldset", { className: "reasons" });
    reasons.appendChild(make("legend", { textContent: "Reason (optional)" }));
    for (const [value, words] of WHY_REASONS) {
      const label = make("label", { className: "check" });
      label.append(make("input", { type: "radio", name: "reason", value }), ` ${words}`);
      reasons.appendChild(label);
    }
    const comment = make("textarea", {
      id: "feedback-comment", name: "comment", rows: 3, maxLength: MAX_COMMENT,
    });
    comment.setAttribute("aria-describedby", "feedback-count");
    const count = make("p", { id: "feedback-count", className: "hint" });
    const error = make("p", { className: "error", hidden: true });
    error.setAttribute("role", "alert");
    const cancel = make("button", { type: "button", textContent: "Cancel" });
    const send = make("button", { type: "submit", className: "primary", textContent: "Send feedback" });
    const actions = make("div", { className: "dialog-actions" });
    actions.append(cancel, send);
    form.append(
      make("h2", { id: "feedback-title", textContent: "What was wrong with this answer?" }),
      reasons, make("label", { htmlFor: "feedback-comment", textContent: "Comment (optional)" }),
      comment, count, error, actions,
    );
    dialog.appendChild(form);
    document.body.appendChild(dialog);
    const state = { dialog, form, error, count, save: null };
    comment.addEventListener("input", () => {
      count.textContent = `${comment.value.length} of ${MAX_COMMENT} characters`;
    });
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const details = {};
      if (form.elements.reason.value) details.reason = form.elements.reason.value;
      if (comment.value.trim()) details.comment = comment.value.trim();
      send.disabled = true;
      try {
        await state.save(details);
        dialog.close();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        if (failure.param === "comment") comment.focus();
      } finally { send.disabled = false; }
    });
    return state;
  }

  async function startConversation(signal) {
    const body = { mode, vision: attachment.id() !== null };
    if (mode !== "battle") {
      body.models = selects.map((select) => select.value);
      body.sampling = {
        temperature: Number($("temperature").value),
        top_p: Number($("top-p").value),
        max_tokens: Number($("max-tokens").value),
      };
    }
    return withTerms(() => api.json("POST", "/api/conversations", body, signal));
  }

  // Streams a turn's answers. `placeholders` runs when the server has accepted the request
  // (its "start" event) and returns the answer node of each side; a request refused before
  // that leaves the page as it was, apart from the error in the status line.
  async function run(mine, path, body, placeholders) {
    let nodes = null;
    let final = null;
    let failure = null;
    $("stop").hidden = false;
    try {
      await api.stream(path, body, (event) => {
        if (mine !== round) return;  // abandoned by "New round": leave the page alone
        if (event.type === "start") {
          mine.streaming = true;  // the server now knows the turn: Stop can ask it
          nodes = placeholders();
        } else if (event.type === "delta") {
          answers.partial(nodes[event.side], event.html);
        } else if (event.type === "answer") {
          answers.complete(nodes[event.side], event.html, event.finish_reason);
        } else if (event.type === "error") {
          answers.failed(nodes[event.side], event.message);
        } else if (event.type === "done") {
          final = event;
        }
      }, mine.controller.signal);
      if (!final) throw new Error("The answers stopped early; regenerate or start a new round.");
    } catch (error) { failure = error; }
    if (mine !== round) { finish(mine); return; }
    const aborted = !final && mine.controller.signal.aborted;
    if (aborted) failure = null;
    try {  // the state as stored, once the server took the request
      if (nodes && aborted) {
        mine.conversation = await storedAfterStop(mine.conversation.id);
        showStoredAnswers(nodes, mine.conversation);
      } else if (nodes) {
        mine.conversation = await api.json("GET", `/api/conversations/${mine.conversation.id}`);
      }
    } catch (error) { failure = failure || error; }
    if (!finish(mine)) return;
    if (failure) setStatus(failure.message, true);
    else reportRound(aborted || (nodes !== null && lastTurnStopped(mine.conversation)));
  }

  function lastTurnStopped(conversation) {
    const last = conversation.turns[conversation.turns.length - 1];
    return Object.values(last.answers).some((a) => a.finish_reason === "stopped");
  }

  // Stop asks the server to end the turn: it stores what each side wrote, and the stream
  // ends as usual with the answers marked as stopped. Before the server has the turn, or
  // when asking fails, the request is aborted (the server stops on a disconnect too).
  async function stop() {
    const mine = round;
    if (!mine.streaming) { mine.controller.abort(); return; }
    try {
      await api.json("POST", `/api/conversations/${mine.conversation.id}/stop`);
    } catch { mine.controller.abort(); }
  }

  // The conversation once the server has stored the stopped turn's sides (it stores them
  // as soon as it sees the request end; a few short waits at most).
  async function storedAfterStop(id) {
    for (let tries = 1; ; tries++) {
      const state = await api.json("GET", `/api/conversations/${id}`);
      const last = state.turns[state.turns.length - 1];
      const saved = Object.values(last.answers).every((a) => a.finish_reason || a.error);
      if (saved || tries === 20) return state;
      await new Promise((resolve) => { setTimeout(resolve, 150); });
    }
  }

  // Shows the last turn's answers as stored: what each side wrote before the stop (the
  // server keeps it), or why it has none.
  function showStoredAnswers(nodes, conversation) {
    const last = conversation.turns[conversation.turns.length - 1];
    for (const side of sides) {
      const stored = last.answers[side];
      if (stored.error) answers.failed(nodes[side], stored.error);
      else answers.complete(nodes[side], stored.html, stored.finish_reason || "stopped");
    }
  }

  // Says what may happen next, from the conversation's state.
  function reportRound(stopped) {
    const c = round.conversation;
    if (mode === "chat") {
      if (c.can_continue) setStatus(stopped ? "Stopped." : "Answered.");
      else setStatus(stopped ? "Stopped. Regenerate the answer or start a new chat." :
        "This chat is finished; start a new one.");
    } else if (c.votable) {
      setStatus(stopped ? "Stopped. Vote on the answers so far, or regenerate them." :
        "Which answer is better?");
    } else {
      setStatus(stopped ? "Stopped. Regenerate the answers or start a new round." :
        "This round cannot be voted; regenerate or start a new round.", !stopped);
    }
  }

  async function send() {
    const text = prompt.value;
    if (!text.trim() || round.busy) return;
    if (!terms.accepted) setStatus("Agree to the terms of use to send your message.");
    if (!(await terms.ensure())) { setStatus(NEED_TERMS, true); return; }
    const mine = begin("Generating…");
    if (!mine.conversation) {
      try {
        const started = await startConversation(mine.controller.signal);
        if (mine !== round) return;
        mine.conversation = started;
        continuity.started(started.id);
      } catch (error) {
        if (finish(mine)) setStatus(error.message, true);
        return;
      }
      setControls();
    }
    const image = attachment.id();
    const path = `/api/conversations/${mine.conversation.id}/messages`;
    await run(mine, path, { prompt: text, image }, () => {
      prompt.value = "";
      attachment.clear();
      return addTurn(text, image);
    });
  }

  async function regenerate() {
    if (!round.conversation || round.busy) return;
    const mine = begin("Generating…");
    await run(mine, `/api/conversations/${mine.conversation.id}/regenerate`, undefined, () => {
      const nodes = {};
      for (const side of sides) {
        const all = pane(side).querySelectorAll(".turn .answer");
        nodes[side] = all[all.length - 1];
        answers.waiting(nodes[side]);
        // A rating belongs to the answer it was given to (the server drops it too).
        for (const thumb of nodes[side].closest(".turn").querySelectorAll(".thumbs button")) {
          thumb.classList.remove("chosen");
          thumb.setAttribute("aria-pressed", "false");
        }
      }
      return nodes;
    });
  }

  // -- votes ----------------------------------------------------------------------------

  // Names each side's model above its pane, and marks the side the visitor picked.
  function reveal(revealed, winner) {
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
      if (winner === `model_${side}`) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "Your pick";
        title.appendChild(badge);
        pane(side).classList.add("picked");
      }
    }
  }

  // Marks the visitor's choice and names the models.
  function showVote(winner, revealed) {
    const button = voteButtons.find((b) => b.dataset.winner === winner);
    button.classList.add("chosen");
    button.setAttribute("aria-pressed", "true");
    reveal(revealed, winner);
    const { a, b } = revealed;
    setStatus(`You voted “${VOTE_WORDS[winner]}”: A is ${a.display_name}, ` +
      `B is ${b.display_name}.`);
  }

  async function vote(button) {
    if (!round.conversation || round.busy) return;
    const winner = button.dataset.winner;
    const mine = begin("Saving your vote…");
    try {
      const path = `/api/conversations/${mine.conversation.id}/vote`;
      const result = await api.json("POST", path, { winner });
      Object.assign(mine.conversation, { winner, votable: false, can_continue: false });
      if (finish(mine)) {
        showVote(winner, result.models);
        continuity.voted(mine.conversation.id);
        $("clear").focus();
      }
    } catch (error) {
      if (finish(mine)) setStatus(error.message, true);
    }
  }

  // -- images ---------------------------------------------------------------------------

  async function uploadImage(file) {
    if (!(await terms.ensure())) throw new Error("Agree to the terms of use to attach an image.");
    const form = new FormData();
    form.append("image", file);
    return (await withTerms(() => api.json("POST", "/api/images", form))).id;
  }

  function attachmentChanged() {
    if (models !== null) syncChoices();
    setControls();
  }

  // -- resuming -------------------------------------------------------------------------

  // Shows the conversation named in the address again, as stored (after a reload, or from
  // the recent list): its turns, and once voted its vote and names; it goes on from there.
  async function resume(id, modelsReady) {
    const mine = begin("Loading your conversation…");
    let state;
    try {
      state = await api.json("GET", `/api/conversations/${encodeURIComponent(id)}`);
      // A reload in the middle of an answer stopped it; its text so far is being stored.
      if (state.turns.length && lastTurnUnsaved(state)) state = await storedAfterStop(id);
      await modelsReady;
    } catch (error) {
      if (!finish(mine)) return;
      continuity.cleared();
      setStatus(error.status === 403 || error.status === 404 ?
        "That conversation is not available in this browser; start a new one here." :
        error.message, true);
      return;
    }
    if (mine !== round) { finish(mine); return; }
    if (state.mode !== mode) {  // a link to another page's conversation
      location.replace(`${PAGE_OF_MODE[state.mode]}?conversation=${encodeURIComponent(id)}`);
      return;
    }
    mine.conversation = state;
    if (mode !== "battle") nameChosen(state.models);
    state.turns.forEach((turn, index) => {
      const nodes = addTurn(turn.prompt, turn.image, index);
      for (const side of sides) {
        const stored = turn.answers[side];
        if (stored.error) answers.failed(nodes[side], stored.error);
        else answers.complete(nodes[side], stored.html, stored.finish_reason);
      }
      if (turn.rating !== null) {  // a chat answer's thumbs, as given
        const name = turn.rating > 0 ? "Thumbs up" : "Thumbs down";
        const thumb = nodes.a.closest(".turn").querySelector(`.thumbs [aria-label="${name}"]`);
        if (thumb) {
          thumb.classList.add("chosen");
          thumb.setAttribute("aria-pressed", "true");
        }
      }
    });
    continuity.started(id);
    if (!finish(mine)) return;
    if (state.winner) {
      showVote(state.winner, state.models);
      continuity.voted(id);
    } else if (state.turns.length) {
      reportRound(lastTurnStopped(state));
    } else {
      setStatus("");
    }
  }

  function lastTurnUnsaved(conversation) {
    const last = conversation.turns[conversation.turns.length - 1];
    return Object.values(last.answers).some((a) => !a.finish_reason && !a.error);
  }

  // The chosen models of a resumed side-by-side or chat, in the lists and above the panes.
  function nameChosen(chosen) {
    sides.forEach((side, index) => {
      const select = selects[index];
      if ([...select.options].some((o) => o.value === chosen[side].name)) {
        select.value = chosen[side].name;
      }
      const label = mode === "chat" ? "Model" : `Model ${side.toUpperCase()}`;
      pane(side).querySelector(".pane-title").textContent =
        `${label}: ${chosen[side].display_name}`;
    });
  }

  // -- starting again -------------------------------------------------------------------

  function reset() {
    round.controller.abort();
    round = newRound();
    for (const side of sides) {
      pane(side).querySelector(".turns").replaceChildren();
      pane(side).classList.remove("picked");
      const title = pane(side).querySelector(".pane-title");
      title.textContent = mode === "chat" ? "Model" : `Model ${side.toUpperCase()}`;
      title.classList.remove("revealed");
    }
    for (const button of voteButtons) {
      button.classList.remove("chosen");
      button.removeAttribute("aria-pressed");
    }
    $("stop").hidden = true;
    continuity.cleared();
    attachment.clear();  // also shows the chosen models' names again
    setStatus("");
    prompt.focus();
  }

  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  $("regenerate").addEventListener("click", regenerate);
  $("clear").addEventListener("click", reset);
  $("stop").addEventListener("click", stop);
  selects.forEach((select) => select.addEventListener("change", syncChoices));
  voteButtons.forEach((b) => b.addEventListener("click", () => vote(b)));
  // Enter sends, Shift+Enter adds a line; on touch screens Enter adds a line (the Send
  // button is at hand, and their keyboards have no easy Shift+Enter).
  prompt.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || touchOnly.matches) return;
    event.preventDefault();
    send();
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("textarea, input, select, dialog") || event.ctrlKey ||
      event.metaKey || event.altKey) return;
    const button = voteButtons[["1", "2", "3", "4"].indexOf(event.key)];
    if (button && !button.disabled) vote(button);
  });
  // Leaving the page ends its answers: the server stops generating them.
  window.addEventListener("pagehide", () => round.controller.abort());
  const modelsReady = loadModels();
  setControls();
  if (continuity.wanted()) resume(continuity.wanted(), modelsReady);
});
