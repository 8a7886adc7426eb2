// The image attached to the next message: picked with the button, pasted or dropped on
// the page, uploaded at once and shown as a thumbnail with a button that removes it.
"use strict";

const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

// Sets up the attachment. The page says how to `upload(file)` (resolves to the image's
// id), `whyNot()` an image may not be attached now (a sentence, or null when it may),
// how to `report(text, isError)` and what to do when the image `changed()`.
// Returns { id() (the attached image's id or null), clear() }.
function setUpAttachment({ upload, whyNot, report, changed }) {
  const $ = (id) => document.getElementById(id);
  let imageId = null;

  function show(id) {
    imageId = id;
    $("attachment").hidden = id === null;
    if (id === null) $("attachment-image").removeAttribute("src");
    else $("attachment-image").src = `/api/images/${encodeURIComponent(id)}`;
    $("image").value = "";
    changed();
  }

  async function add(file) {
    const refusal = whyNot();
    if (refusal) return report(refusal, true);
    if (!IMAGE_TYPES.includes(file.type)) {
      return report("Only PNG, JPEG and WebP images can be attached.", true);
    }
    report("Attaching the image…");
    try {
      show(await upload(file));
      report("");
    } catch (error) {
      report(error.message, true);
    }
  }

  // The first file among `files` (a FileList), if any.
  function firstFile(files) { return files && files.length ? files[0] : null; }

  $("attach").addEventListener("click", () => $("image").click());
  $("image").addEventListener("change", () => {
    const file = firstFile($("image").files);
    if (file) add(file);
  });
  $("remove-image").addEventListener("click", () => {
    show(null);
    $("prompt").focus();
  });
  $("prompt").addEventListener("paste", (event) => {
    const file = firstFile(event.clipboardData && event.clipboardData.files);
    if (!file) return;  // text pastes as usual
    event.preventDefault();
    add(file);
  });
  // A file dropped anywhere on the page is attached (and not opened in place of the page).
  document.addEventListener("dragover", (event) => {
    if (event.dataTransfer && event.dataTransfer.types.includes("Files")) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    const file = firstFile(event.dataTransfer && event.dataTransfer.files);
    if (!file) return;
    event.preventDefault();
    add(file);
  });

  return { id: () => imageId, clear: () => show(null) };
}
