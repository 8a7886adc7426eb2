// One answer on the page: its HTML as it streams (sanitised on the server), then the
// finished answer with copy buttons for it and for each code block, and a note when it
// was cut short (the length limit, the visitor's Stop); or why there is none.
"use strict";

// What the page says under an answer that ended early, by its finish reason.
const CUT_SHORT = {
  length: "Stopped at the length limit.",
  stopped: "Stopped before the end.",
};

const answers = {
  // A new answer box (the answer and the line below it) inside `parent`; the answer.
  create(parent) {
    const answer = document.createElement("div");
    const foot = document.createElement("div");
    foot.className = "answer-foot";
    parent.append(answer, foot);
    answers.waiting(answer);
    return answer;
  },

  // Empty, waiting for the first words.
  waiting(answer) {
    answer.className = "answer pending";
    answer.textContent = "…";
    answers.foot(answer).replaceChildren();
  },

  // Part of the answer, more to come.
  partial(answer, html) {
    answer.innerHTML = html;
  },

  // The whole answer, or as much as was written when it was cut short (`finishReason`
  // "length": the length limit; "stopped": the visitor's Stop).
  complete(answer, html, finishReason) {
    answer.innerHTML = html;
    answer.className = "answer";
    answer.querySelectorAll("pre").forEach(addCodeCopy);
    const foot = answers.foot(answer);
    foot.replaceChildren(copyButton("Copy answer", "Copy answer", () => answer.innerText));
    if (CUT_SHORT[finishReason]) foot.prepend(note(CUT_SHORT[finishReason]));
  },

  failed(answer, message) {
    answer.textContent = message;
    answer.className = "answer failed";
    answers.foot(answer).replaceChildren();
  },

  foot(answer) { return answer.nextElementSibling; },
};

function note(text) {
  const span = document.createElement("span");
  span.className = "answer-note";
  span.textContent = text;
  return span;
}

// A button that copies what `text()` returns and says so for a moment; `name` is what
// assistive technology calls it (it contains the label).
function copyButton(label, name, text) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = label;
  button.setAttribute("aria-label", name);
  button.addEventListener("click", async () => {
    try {
      await copyText(text());
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Not copied";
      button.title = error.message;
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

function addCodeCopy(pre) {
  const box = document.createElement("div");
  box.className = "code";
  pre.replaceWith(box);
  box.append(pre, copyButton("Copy", "Copy the code", () => pre.textContent));
}
