// The review inbox of reviewers: the drafts in review that the caller may approve (GET /reviews/inbox,
// the longest waiting first), as a button of the top bar with their count and a dialog that lists
// them; each opens in the review dialog.
import { api, ApiError } from "./api.js";
import { PROJECT_ROLE } from "./constants.js";
import { scriptDialog, when } from "./dialogs.js";
import { byId, createElement } from "./dom.js";
import { translate } from "./i18n.js";
import { canSomewhere } from "./permissions.js";
import { openReview } from "./review.js";
import { toast } from "./toasts.js";

/** @typedef {import("./types.js").InboxItem} InboxItem */

let ticket = 0; // the latest count asked for: an older answer arriving late is dropped

/** The top bar's inbox button (made once). */
function button() {
  const found = document.getElementById("inbox-button");
  if (found instanceof HTMLButtonElement) return found;
  const made = createElement("button", { type: "button", id: "inbox-button", className: "link inbox-button", hidden: true, onclick: openInbox },
    translate("inbox.button"), " ", createElement("span", { id: "inbox-count", className: "count" }, "0"));
  byId("account").before(made);
  return made;
}

/**
 * The drafts awaiting the caller (null: this server has no review inbox).
 * @returns {Promise<InboxItem[] | null>}
 */
async function awaiting() {
  try {
    const { data } = await api("GET", "/reviews/inbox");
    return data;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

/** The inbox's count again (at start, after a review step, a save or a discard). */
export async function refreshInbox() {
  const shown = button();
  if (!canSomewhere(PROJECT_ROLE.reviewer)) {
    shown.hidden = true;
    return;
  }
  const mine = ++ticket;
  let drafts;
  try {
    drafts = await awaiting();
  } catch {
    return; // the count waits for the next refresh
  }
  if (mine !== ticket) return;
  shown.hidden = drafts === null;
  const count = drafts ? drafts.length : 0;
  byId("inbox-count").textContent = String(count);
  shown.setAttribute("aria-label", translate("inbox.button_label", { count }));
  shown.classList.toggle("has-items", count > 0);
}

async function openInbox() {
  let drafts;
  try {
    drafts = (await awaiting()) ?? [];
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  byId("inbox-count").textContent = String(drafts.length);
  const dialog = scriptDialog(
    "inbox-dialog",
    translate("inbox.title"),
    drafts.length
      ? createElement("table", { id: "inbox-table" },
        createElement("thead", {}, createElement("tr", {},
          createElement("th", {}, translate("inbox.story")), createElement("th", {}, translate("inbox.project")),
          createElement("th", {}, translate("inbox.submitted_by")), createElement("th", {}, translate("inbox.since")),
          createElement("th", {}, createElement("span", { className: "visually-hidden" }, translate("tokens.actions"))))),
        createElement("tbody", {}, drafts.map((job) => inboxRow(job, () => dialog.close()))))
      : createElement("p", { className: "muted", id: "inbox-empty" }, translate("inbox.empty")),
  );
}

/**
 * @param {InboxItem} item
 * @param {() => void} close
 */
function inboxRow(item, close) {
  const open = createElement("button", { type: "button", className: "link inbox-open", "aria-label": translate("inbox.open_named", { id: item.story_id }),
    onclick: () => {
      close();
      openReview(item.task_id);
    } }, translate("inbox.open"));
  return createElement("tr", { dataset: { task: item.task_id, inboxStory: item.story_id } },
    createElement("td", {}, createElement("span", { className: "id" }, item.story_id), ` ${item.story_title}`),
    createElement("td", {}, item.project_name),
    createElement("td", {}, item.submitted_by ?? "—"),
    createElement("td", {}, when(item.submitted_at ?? item.finished_at)),
    createElement("td", {}, open));
}
