// The visitor's own past on the arena pages: the recent conversations (links that resume
// them), the conversation on screen kept in the address so a reload brings it back, the
// "your votes so far" line and the visitor's own leaderboard after enough blind votes, and
// the share link of a voted conversation.
"use strict";

const MODE_WORDS = { battle: "Battle", side_by_side: "Side by side", chat: "Chat" };
const CHOICE_WORDS = [
  ["model_a", "for A", "for A"], ["model_b", "for B", "for B"],
  ["tie", "tie", "ties"], ["tie (bothbad)", "both bad", "both bad"],
];

const continuity = {
  current: null,  // the id of the conversation on screen

  el(id) { return document.getElementById(id); },
  mode() { return document.getElementById("arena").dataset.mode; },

  // The conversation id in the address (the page resumes it), or null.
  wanted() { return new URLSearchParams(location.search).get("conversation"); },

  // A conversation is on screen: its id goes in the address, so a reload resumes it.
  started(id) {
    continuity.current = id;
    const url = new URL(location.href);
    url.searchParams.set("conversation", id);
    history.replaceState(null, "", url);
    continuity.loadRecent();
  },

  // "New round": nothing on screen; the address loses the id, the share button goes.
  cleared() {
    continuity.current = null;
    const url = new URL(location.href);
    url.searchParams.delete("conversation");
    history.replaceState(null, "", url);
    for (const id of ["share", "share-note", "tally"]) continuity.el(id).hidden = true;
    continuity.markCurrent();
  },

  // After a vote (or on opening a voted conversation): the share button, and on the
  // battle page the votes so far and, with enough of them, the visitor's own board.
  voted(id) {
    continuity.el("share").hidden = false;
    continuity.el("share").dataset.id = id;
    continuity.loadRecent();
    if (continuity.mode() === "battle") continuity.loadVotes(true);
  },

  // -- recent conversations ---------------------------------------------------------------

  async loadRecent() {
    const list = continuity.el("recent-list");
    let answer;
    try {
      answer = await api.json("GET", "/api/conversations?limit=15");
    } catch (_) {
      continuity.el("recent-empty").textContent = "Your recent conversations could not be loaded.";
      return;
    }
    list.replaceChildren(...answer.conversations.map(continuity.recentItem));
    continuity.el("recent-empty").textContent =
      answer.conversations.length ? "" : "Your conversations will be listed here.";
    continuity.el("recent-count").textContent = answer.conversations.length ?
      `(${answer.conversations.length})` : "";
    continuity.markCurrent();
  },

  recentItem(item) {
    const li = document.createElement("li");
    li.dataset.id = item.id;
    const link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.title;
    const about = document.createElement("span");
    about.className = "recent-about";
    const state = item.mode === "chat" ? "" : item.voted ? " · voted" : " · not voted yet";
    const turns = item.turns === 1 ? "1 turn" : `${item.turns} turns`;
    const when = new Date(item.created_at).toLocaleString([], {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
    about.textContent = `${MODE_WORDS[item.mode]} · ${turns}${state} · ${when}`;
    li.append(link, about);
    return li;
  },

  markCurrent() {
    for (const li of continuity.el("recent-list").children) {
      const link = li.querySelector("a");
      if (li.dataset.id === continuity.current) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    }
  },

  // -- votes so far and the visitor's own leaderboard -------------------------------------

  // The one-line tally (shown after a vote, `show`), and the own board once it can be.
  async loadVotes(show) {
    let summary;
    let board;
    try {
      [summary, board] = await Promise.all([
        api.json("GET", "/api/votes/mine"), api.json("GET", "/api/leaderboard/mine"),
      ]);
    } catch (_) { return; }
    if (show && summary.votes) {
      continuity.el("tally").textContent = continuity.tallyLine(summary, board);
      continuity.el("tally").hidden = false;
    }
    continuity.showBoard(board);
  },

  tallyLine(summary, board) {
    const times = summary.votes === 1 ? "once" : `${summary.votes} times`;
    const parts = CHOICE_WORDS.filter(([key]) => summary.choices[key])
      .map(([key, one, many]) => `${summary.choices[key]} ${summary.choices[key] === 1 ? one : many}`);
    let line = `You have voted ${times}: ${parts.join(", ")}.`;
    const top = summary.models[0];
    if (top && top.wins) {
      line += ` Your most picked model: ${top.display_name} (${top.wins} of ${top.battles}).`;
    }
    if (!board.enough && board.message) line += ` ${board.message}`;
    return line;
  },

  showBoard(board) {
    const box = continuity.el("my-board");
    if (!board.enough || !board.rows.length) { box.hidden = true; return; }
    const rating = (value) => (value === null || value === undefined ? "—" : Math.round(value));
    const interval = (low, high) => (low === null || high === null ? "" :
      ` (${Math.round(low)}–${Math.round(high)})`);
    const rows = board.rows.map((row) => {
      const tr = document.createElement("tr");
      const everyone = row.everyone;
      const cells = [
        String(row.rank),
        row.display_name,
        `${rating(row.rating)}${interval(row.ci_lower, row.ci_upper)}`,
        String(row.num_battles),
        everyone ? `${rating(everyone.rating)} (rank ${everyone.rank_upper})` : "not rated yet",
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement(index === 1 ? "th" : "td");
        if (index === 1) cell.scope = "row";
        cell.textContent = text;
        tr.appendChild(cell);
      });
      return tr;
    });
    continuity.el("my-board-rows").replaceChildren(...rows);
    continuity.el("my-board-note").textContent =
      `From your ${board.votes} blind votes; in brackets, 95% intervals (rough with few ` +
      `votes).${board.message ? ` ${board.message}` : ""}`;
    box.hidden = false;
  },

  // -- sharing --------------------------------------------------------------------------

  async copyShareLink() {
    const button = continuity.el("share");
    const link = `${location.origin}/share/${encodeURIComponent(button.dataset.id)}`;
    const label = button.textContent;
    try {
      await copyText(link);
      button.textContent = "Link copied";
      continuity.note(`Link copied: ${link} (it shows the conversation, nothing about you).`);
    } catch (_) {
      button.textContent = "Not copied";
      continuity.note(`Copy this link to share the conversation: ${link}`);
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  },

  // Says `text` on the line under the vote bar (read out by screen readers).
  note(text) {
    const line = continuity.el("share-note");
    line.textContent = text;
    line.hidden = false;
  },
};

document.addEventListener("DOMContentLoaded", () => {
  if (!document.getElementById("arena")) return;
  continuity.el("share").addEventListener("click", continuity.copyShareLink);
  continuity.loadRecent();
  if (continuity.mode() === "battle") continuity.loadVotes(false);
});
