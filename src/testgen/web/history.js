// A story's history in its view: who changed what and when (GET /user-stories/{id}/history, the audit
// trail's rows of the story), newest first.
import { api, ApiError } from "./api.js";
import { when } from "./dialogs.js";
import { createElement, encodePath } from "./dom.js";
import { translate } from "./i18n.js";

/** @typedef {import("./types.js").HistoryRow} HistoryRow */

/**
 * The names of the fields a change touched.
 * @param {HistoryRow["fields"]} fields
 */
function fieldNames(fields) {
  if (!fields) return "";
  return (Array.isArray(fields) ? fields : Object.keys(fields)).join(", ");
}

/**
 * The history section of a story's view; its rows arrive after it is shown.
 * @param {string} storyId
 */
export function historySection(storyId) {
  const body = createElement("tbody");
  const note = createElement("p", { className: "muted history-note" }, translate("history.loading"));
  const table = createElement("table", { className: "history-table", hidden: true },
    createElement("thead", {}, createElement("tr", {},
      createElement("th", {}, translate("history.when")), createElement("th", {}, translate("history.who")),
      createElement("th", {}, translate("history.what")), createElement("th", {}, translate("history.fields")))),
    body);
  const section = createElement("section", { id: "story-history", "aria-labelledby": "story-history-title" },
    createElement("h3", { id: "story-history-title" }, translate("history.title")), note, table);
  api("GET", `/user-stories/${encodePath(storyId)}/history`)
    .then(({ data }) => {
      /** @type {HistoryRow[]} */
      const rows = [...data].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
      body.replaceChildren(...rows.map((row) => createElement("tr", { className: "history-row", dataset: { action: row.action } },
        createElement("td", {}, when(row.at)), createElement("td", {}, row.actor.replace(/^user:/, "")),
        createElement("td", {}, row.action), createElement("td", {}, fieldNames(row.fields)))));
      table.hidden = !rows.length;
      note.hidden = rows.length > 0;
      note.textContent = translate("history.none");
    })
    .catch((err) => {
      const missing = err instanceof ApiError && (err.status === 404 || err.status === 405);
      note.textContent = missing ? translate("history.unavailable") : err.message;
    });
  return section;
}
