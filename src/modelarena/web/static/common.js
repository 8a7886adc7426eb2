// Shared by every page: the theme switch, the terms of use, copying text and a small API
// helper.
"use strict";

const api = {
  headers: {},  // sent with every call (the admin page adds its token here)
  // `signal` (an AbortSignal) cancels the request, and a stream being read.
  async call(method, path, body, signal) {
    const init = { method, headers: { ...api.headers }, signal };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (!response.ok) throw await api.error(response);
    return response;
  },
  async json(method, path, body, signal) {
    return (await api.call(method, path, body, signal)).json();
  },
  // The server's own message, its code and the field it is about; a plain sentence when
  // the answer is not the server's JSON.
  async error(response) {
    let message = `The server answered ${response.status} ${response.statusText}; try again.`;
    let param = null;
    let code = null;
    try {
      const body = await response.json();
      if (body.error && body.error.message) message = body.error.message;
      if (body.error) ({ param = null, code = null } = body.error);
    } catch (_) { /* not JSON */ }
    const error = new Error(message);
    Object.assign(error, { status: response.status, param, code });
    return error;
  },
  // POST that answers with server-sent events; calls onEvent for each one.
  async stream(path, body, onEvent, signal) {
    const response = await api.call("POST", path, body, signal);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (chunk.startsWith("data: ")) onEvent(JSON.parse(chunk.slice(6)));
      }
    }
  },
};

// The terms of use: whether this browser has agreed, and the dialog that asks.
const terms = {
  accepted: false,
  checked: null,  // settles once the server said whether this browser agreed
  dialog() { return document.getElementById("terms"); },
  // Opens the dialog; resolves to true once the visitor agreed (and the server knows),
  // to false when they closed it without agreeing (Escape, "Not now").
  ask() {
    const dialog = terms.dialog();
    if (!dialog.open) dialog.showModal();
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(terms.accepted), { once: true });
    });
  },
  // True at once when the visitor has agreed; else asks.
  async ensure() {
    await terms.checked;
    return terms.accepted || terms.ask();
  },
  async agree() {
    const error = document.getElementById("terms-error");
    try {
      await api.json("POST", "/api/terms");
    } catch (_) {
      error.textContent = "Your answer could not be saved; check your connection and try again.";
      error.hidden = false;
      return;
    }
    error.hidden = true;
    terms.accepted = true;
    terms.dialog().close();
  },
};

// Puts `text` on the clipboard (the Clipboard API where the page may use it, else the
// browser's copy command on a hidden text area).
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("This browser did not allow copying; select the text instead.");
}

function applyTheme(theme) {
  document.documentElement.classList.toggle("dark", theme === "dark");
}

applyTheme(localStorage.getItem("theme") ||
  (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("theme").addEventListener("click", () => {
    const dark = !document.documentElement.classList.contains("dark");
    localStorage.setItem("theme", dark ? "dark" : "light");
    applyTheme(dark ? "dark" : "light");
  });
  document.getElementById("accept-terms").addEventListener("click", terms.agree);
  document.getElementById("decline-terms").addEventListener("click", () => terms.dialog().close());
  terms.checked = api.json("GET", "/api/terms").then((answer) => {
    terms.accepted = answer.accepted;
    if (!terms.accepted && document.getElementById("arena")) terms.dialog().showModal();
  }, () => { /* the arena may be off */ });
});
