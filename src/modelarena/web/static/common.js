// Shared by every page: the theme switch, the terms dialog and a small API helper.
"use strict";

const api = {
  headers: {},  // sent with every call (the admin page adds its token here)
  async call(method, path, body) {
    const init = { method, headers: { ...api.headers } };
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
  async json(method, path, body) {
    return (await api.call(method, path, body)).json();
  },
  async error(response) {
    let message = `${response.status} ${response.statusText}`;
    let param = null;
    try {
      const body = await response.json();
      if (body.error && body.error.message) message = body.error.message;
      if (body.error && body.error.param) param = body.error.param;
    } catch (_) { /* not JSON */ }
    const error = new Error(message);
    error.status = response.status;
    error.param = param;
    return error;
  },
  // POST that answers with server-sent events; calls onEvent for each one.
  async stream(path, body, onEvent) {
    const response = await api.call("POST", path, body);
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

function applyTheme(theme) {
  document.documentElement.classList.toggle("dark", theme === "dark");
}

applyTheme(localStorage.getItem("theme") ||
  (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("theme").addEventListener("click", () => {
    const dark = !document.documentElement.classList.contains("dark");
    localStorage.setItem("theme", dark ? "dark" : "light");
    applyTheme(dark ? "dark" : "light");
  });
  const dialog = document.getElementById("terms");
  document.getElementById("accept-terms").addEventListener("click", async () => {
    await api.json("POST", "/api/terms");
    dialog.close();
  });
  try {
    const terms = await api.json("GET", "/api/terms");
    if (!terms.accepted && document.getElementById("arena")) dialog.showModal();
  } catch (_) { /* the arena may be off */ }
});
