// A story's attachments on its view: a thumbnail of each image, the name, type and size of each file,
// a download button each; editors also get a drop zone (drag files onto it, or choose them) and a
// delete button each. The server checks every file (type from its bytes, limits): its refusal is shown.
import { api } from "./api.js";
import { authHeaders } from "./auth.js";
import { confirmDelete } from "./confirm.js";
import { createElement, encodePath } from "./dom.js";
import { download } from "./exports.js";
import { translate } from "./i18n.js";
import { toast } from "./toasts.js";

/** @typedef {import("./types.js").Attachment} Attachment */

// What the file picker offers; the server decides from the bytes whatever is chosen or dropped.
const ACCEPT = "image/png,image/jpeg,image/webp,image/gif,application/pdf,text/plain,text/markdown,.md,.markdown,.txt";

/**
 * The attachments section of the story view, filled as soon as the list arrives.
 * @param {string} storyId
 * @param {boolean} editor  may attach and delete
 */
export function attachmentsSection(storyId, editor) {
  const base = `/user-stories/${encodePath(storyId)}/attachments`;
  const list = createElement("ul", { className: "attachment-list", id: "attachment-list" });
  const refresh = async () => {
    try {
      const { data } = await api("GET", base);
      list.replaceChildren(...data.map((/** @type {Attachment} */ item) => attachmentItem(base, item, editor, refresh)));
      list.dataset.count = String(data.length);
    } catch (err) {
      toast(err.message, "error");
    }
  };
  const section = createElement(
    "section",
    { id: "story-attachments", className: "attachments", "aria-labelledby": "attachments-title" },
    createElement("h3", { id: "attachments-title" }, translate("attachments.title")),
    editor ? dropZone(base, refresh) : null,
    list,
  );
  refresh();
  return section;
}

/**
 * The place to drop files on, with a file picker for the keyboard; each file is uploaded in turn.
 * @param {string} base
 * @param {() => Promise<void>} refresh
 */
function dropZone(base, refresh) {
  const input = createElement("input", { type: "file", multiple: true, accept: ACCEPT, id: "attachment-input", className: "visually-hidden" });
  const zone = createElement(
    "label",
    { className: "drop-zone", htmlFor: "attachment-input", id: "attachment-drop" },
    translate("attachments.drop"),
    input,
  );
  /** @param {FileList | File[]} files */
  const send = async (files) => {
    zone.setAttribute("aria-busy", "true");
    for (const file of Array.from(files)) {
      const form = new FormData();
      form.append("file", file, file.name);
      try {
        await api("POST", base, form);
        toast(translate("attachments.added", { name: file.name }), "success");
      } catch (err) {
        toast(translate("attachments.refused", { name: file.name, error: err.message }), "error", 8000);
      }
    }
    zone.removeAttribute("aria-busy");
    input.value = "";
    await refresh();
  };
  input.addEventListener("change", () => input.files && send(input.files));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files.length) send(event.dataTransfer.files);
  });
  return zone;
}

/**
 * One attachment: its thumbnail (images), name and details, download and (editors) delete.
 * @param {string} base
 * @param {Attachment} item
 * @param {boolean} editor
 * @param {() => Promise<void>} refresh
 */
function attachmentItem(base, item, editor, refresh) {
  const url = `${base}/${item.id}`;
  const details = item.kind === "image" ? `${item.width}x${item.height}` : item.kind === "pdf" ? translate("attachments.pages", { pages: item.pages ?? 0 }) : "";
  const thumb = item.kind === "image" ? createElement("img", { className: "attachment-thumb", alt: item.file_name, width: 64, height: 64 }) : null;
  if (thumb) showThumbnail(url, thumb);
  const remove = async () => {
    const ok = await confirmDelete(translate("attachments.delete_title"), translate("attachments.delete_text", { name: item.file_name }));
    if (!ok) return;
    try {
      await api("DELETE", url);
      await refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  return createElement(
    "li",
    { className: "attachment", dataset: { id: String(item.id), kind: item.kind } },
    thumb,
    createElement("span", { className: "attachment-name" }, item.file_name),
    createElement("span", { className: "muted attachment-meta" }, [details, formatSize(item.size)].filter(Boolean).join(" · ")),
    createElement("button", { type: "button", className: "attachment-download", onclick: () => download(url),
      "aria-label": translate("attachments.download", { name: item.file_name }) }, translate("attachments.download_short")),
    editor ? createElement("button", { type: "button", className: "danger attachment-delete", onclick: remove,
      "aria-label": translate("attachments.delete", { name: item.file_name }) }, translate("page.delete")) : null,
  );
}

/**
 * Load an image's content with the credential and show it as a data URL (the page's policy allows
 * images from this server and data URLs only).
 * @param {string} url
 * @param {HTMLImageElement} img
 */
async function showThumbnail(url, img) {
  try {
    const response = await fetch(url, { headers: authHeaders() });
    if (!response.ok) return;
    const blob = await response.blob();
    const reader = new FileReader();
    reader.onload = () => {
      if (typeof reader.result === "string") img.src = reader.result;
    };
    reader.readAsDataURL(blob);
  } catch {
    // no thumbnail: the name and the download button stay
  }
}

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024) return translate("attachments.bytes", { n: bytes });
  if (bytes < 1024 * 1024) return translate("attachments.kib", { n: (bytes / 1024).toFixed(1) });
  return translate("attachments.mib", { n: (bytes / (1024 * 1024)).toFixed(1) });
}
