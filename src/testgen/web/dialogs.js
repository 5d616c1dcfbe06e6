// The dialogs the scripts build (accounts, members, the review inbox): one <dialog> per id, made once,
// with a heading and a close button; and dates as the reader's language writes them.
import { language, translate } from "./i18n.js";
import { createElement } from "./dom.js";

/** @type {Intl.DateTimeFormatOptions} a date: "12 Mar 2025", "12 mar 2025" */
const DAY = { year: "numeric", month: "short", day: "numeric" };
/** @type {Intl.DateTimeFormatOptions} a date and time */
const MOMENT = { ...DAY, hour: "2-digit", minute: "2-digit" };

/**
 * The dialog of this id (made the first time), its contents replaced by a heading and `children`.
 * @param {string} id
 * @param {string} title
 * @param {...any} children
 * @returns {HTMLDialogElement}
 */
export function scriptDialog(id, title, ...children) {
  let dialog = document.getElementById(id);
  if (!(dialog instanceof HTMLDialogElement)) {
    dialog = createElement("dialog", { id, className: "wide-dialog", "aria-labelledby": `${id}-title` });
    document.body.append(dialog);
  }
  const box = /** @type {HTMLDialogElement} */ (dialog);
  box.replaceChildren(
    createElement(
      "div",
      { className: "dialog-head" },
      createElement("h2", { id: `${id}-title` }, title),
      createElement("button", { type: "button", className: "link", "aria-label": translate("dialog.close"), onclick: () => box.close() }, "✕"),
    ),
    ...children.filter((child) => child !== null && child !== undefined), // replaceChildren prints null
  );
  if (!box.open) box.showModal();
  return box;
}

/**
 * A date and time as the page's language writes them ("—" for none).
 * @param {string | null | undefined} value  ISO 8601
 */
export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleString(language, MOMENT);
}

/**
 * A date as the page's language writes it.
 * @param {string | null | undefined} value  ISO 8601
 */
export function day(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleDateString(language, DAY);
}

/**
 * A status line's text and look: `ok` green, else red.
 * @param {HTMLElement} line
 * @param {string} text
 * @param {boolean} ok
 */
export function report(line, text, ok) {
  line.textContent = text;
  line.className = ok ? "saved-count" : "error-text";
}
