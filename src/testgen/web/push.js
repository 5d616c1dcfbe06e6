// "Push to …" (reviewers and above): a menu of the project's connections a push may go to; the one
// chosen is confirmed with the push's options (delete what was deleted here, overwrite what was changed
// in the tool), then the push job is followed on its own event stream ("Pushed N/M test cases") to its
// result: each test case created, updated, unchanged, in conflict, removed or failed, with its link.
import { api, streamUrl } from "./api.js";
import { kindLabel, kindOf, listConnections } from "./connections.js";
import { EVENT_NAMES, PROJECT_ROLE, ROLE_STATUS, TERMINAL } from "./constants.js";
import { scriptDialog } from "./dialogs.js";
import { byId, createElement, encodePath } from "./dom.js";
import { translate } from "./i18n.js";
import { can } from "./permissions.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").Connection} Connection
 * @typedef {import("./types.js").Project} Project
 * @typedef {import("./types.js").PushJob} PushJob
 * @typedef {import("./types.js").PushResult} PushResult
 * @typedef {import("./types.js").PushedCase} PushedCase
 * @typedef {import("./types.js").QueuedJob} QueuedJob
 */

/** @type {{ es: EventSource | null, taskId: string | null }} the push the dialog follows */
const following = { es: null, taskId: null };

// A click elsewhere closes an open "Push to" menu.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.push-menu[open]")) {
    if (!menu.contains(/** @type {Node} */ (event.target))) /** @type {HTMLDetailsElement} */ (menu).open = false;
  }
});

/**
 * Whether the caller may push the project's test cases.
 * @param {number | null | undefined} projectId
 */
export function canPush(projectId) {
  return can(projectId, PROJECT_ROLE.reviewer);
}

/**
 * The "Push to…" menu: the saved test cases of `storyIds` (null: of every story of the project).
 * @param {() => Project | undefined} projectOf  the project pushed, asked when the menu opens
 * @param {string[] | null} storyIds
 * @param {string} id
 */
export function pushMenu(projectOf, storyIds, id) {
  const items = createElement("div", { className: "menu", role: "menu", "aria-label": translate("push.menu_label") });
  const menu = createElement("details", { id, className: "push-menu" }, createElement("summary", {}, translate("push.menu")), items);
  menu.addEventListener("toggle", async () => {
    if (!menu.open) return;
    const project = projectOf();
    if (!project) {
      menu.open = false;
      return;
    }
    items.replaceChildren(createElement("span", { className: "muted" }, translate("push.loading")));
    try {
      const connections = (await listConnections(project.id)).filter((c) => kindOf(c.kind)?.push_target);
      items.replaceChildren(
        ...(connections.length
          ? connections.map((connection) =>
            createElement("button", { type: "button", className: "link push-to", role: "menuitem", dataset: { connection: String(connection.id) },
              onclick: () => {
                menu.open = false;
                confirmPush(project, connection, storyIds);
              } }, `${connection.name} (${kindLabel(connection.kind)})`))
          : [createElement("span", { className: "muted push-none" }, translate("push.none"))]),
      );
    } catch (err) {
      items.replaceChildren(createElement("span", { className: "error-text" }, err.message));
    }
  });
  return menu;
}

/** The project "Push to…" beside the project export: for the project chosen there, to its reviewers. */
export function renderProjectPush() {
  const place = byId("push-project");
  const chosen = () => state.projects.get(Number(byId("export-project", HTMLSelectElement).value));
  if (!place.firstChild) place.append(pushMenu(chosen, null, "push-project-menu"));
  const project = chosen();
  place.hidden = !(project && canPush(project.id));
}

/**
 * The push dialog: what goes where, the options, then the push's progress and result.
 * @param {Project} project
 * @param {Connection} connection
 * @param {string[] | null} storyIds
 */
function confirmPush(project, connection, storyIds) {
  const deleteRemoved = createElement("input", { type: "checkbox", name: "delete_removed" });
  const overwrite = createElement("input", { type: "checkbox", name: "overwrite" });
  const start = createElement("button", { type: "button", id: "push-start", className: "primary" }, translate("push.start"));
  const cancel = createElement("button", { type: "button", id: "push-cancel", className: "danger", hidden: true }, translate("push.cancel"));
  const error = createElement("span", { id: "push-error", className: "error-text", role: "alert" });
  const bar = createElement("progress", { id: "push-bar" }); // max 1: a job's percent / 100
  const message = createElement("p", { id: "push-message", className: "muted", role: "status" });
  const progress = createElement("div", { id: "push-progress", hidden: true }, bar, message);
  const summary = createElement("div", { id: "push-summary", hidden: true });
  const what = { connection: connection.name, kind: kindLabel(connection.kind) };
  const dialog = scriptDialog(
    "push-dialog",
    translate("push.title", { connection: connection.name }),
    createElement("p", {}, storyIds
      ? translate("push.what_stories", { ...what, stories: storyIds.join(", ") })
      : translate("push.what_project", { ...what, project: project.name })),
    project.review_required ? createElement("p", { className: "muted" }, translate("push.gate")) : null,
    createElement("label", { className: "check" }, deleteRemoved, translate("push.delete_removed")),
    createElement("label", { className: "check" }, overwrite, translate("push.overwrite")),
    createElement("div", { className: "dialog-foot" }, error, createElement("span", { className: "spacer" }), cancel, start),
    progress,
    summary,
  );
  dialog.classList.remove("wide-dialog");
  const parts = { start, cancel, error, bar, message, progress, summary };
  start.addEventListener("click", async () => {
    start.disabled = true;
    error.textContent = "";
    summary.hidden = true;
    /** @type {{ connection_id: number, story_ids?: string[], delete_removed: boolean, overwrite: boolean }} */
    const body = { connection_id: connection.id, delete_removed: deleteRemoved.checked, overwrite: overwrite.checked };
    if (storyIds) body.story_ids = storyIds;
    try {
      /** @type {{ data: QueuedJob }} */
      const { data } = await api("POST", `/projects/${project.id}/push`, body);
      await follow(data, connection, parts);
    } catch (err) {
      error.textContent = err.message;
      start.disabled = false;
    }
  });
  cancel.addEventListener("click", async () => {
    if (!following.taskId) return;
    try {
      await api("POST", `/generate-test-cases/${encodePath(following.taskId)}/cancel`);
    } catch (err) {
      error.textContent = err.message;
    }
  });
}

/**
 * @typedef {object} PushParts  the push dialog's parts
 * @property {HTMLButtonElement} start
 * @property {HTMLButtonElement} cancel
 * @property {HTMLElement} error
 * @property {HTMLProgressElement} bar
 * @property {HTMLElement} message
 * @property {HTMLElement} progress
 * @property {HTMLElement} summary
 */

/**
 * Follow a queued push on its event stream until it ends.
 * @param {QueuedJob} queued
 * @param {Connection} connection
 * @param {PushParts} parts
 */
async function follow(queued, connection, parts) {
  if (following.es) following.es.close();
  following.es = null;
  following.taskId = queued.task_id;
  showProgress(parts, { task_id: queued.task_id, status: queued.status, progress: 0, message: queued.warning || translate("role.waiting") });
  parts.cancel.hidden = false;
  const url = await streamUrl(queued.events_url, new URLSearchParams());
  const es = new EventSource(url);
  following.es = es;
  let ended = false;
  /** @param {PushJob} snapshot */
  const news = (snapshot) => {
    if (ended || following.taskId !== queued.task_id) return;
    showProgress(parts, snapshot);
    if (!TERMINAL.has(snapshot.status)) return;
    ended = true;
    es.close();
    pushEnded(snapshot, connection, parts);
  };
  for (const name of EVENT_NAMES) es.addEventListener(name, (e) => news(JSON.parse(/** @type {MessageEvent} */ (e).data)));
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED || ended) return;
    // The stream was refused or the job ended before it opened: ask for the push's state once.
    api("GET", `/generate-test-cases/status/${encodePath(queued.task_id)}`)
      .then(({ data }) => news(data))
      .catch((err) => (parts.error.textContent = err.message));
  };
}

/**
 * @param {PushParts} parts
 * @param {PushJob} snapshot
 */
function showProgress(parts, snapshot) {
  parts.progress.hidden = false;
  parts.bar.value = (snapshot.progress || 0) / 100;
  parts.message.textContent = snapshot.message || snapshot.status;
}

/**
 * @param {PushJob} job
 * @param {Connection} connection
 * @param {PushParts} parts
 */
async function pushEnded(job, connection, parts) {
  following.taskId = null;
  following.es = null;
  parts.cancel.hidden = true;
  parts.start.disabled = false;
  parts.summary.hidden = false;
  if (job.status === ROLE_STATUS.ready) {
    let result = job.result;
    if (!result) {
      try {
        ({ data: { result } } = await api("GET", `/generate-test-cases/status/${encodePath(job.task_id)}`));
      } catch (err) {
        parts.error.textContent = err.message;
      }
    }
    if (!result) return;
    parts.summary.replaceChildren(...pushSummary(result));
    toast(translate("push.done", { connection: connection.name, counts: countsLine(result) }), "success");
  } else if (job.status === ROLE_STATUS.error) {
    const error = job.error || { type: "", message: job.message ?? "" };
    parts.summary.replaceChildren(createElement("p", { className: "error-text push-failed" },
      translate("push.job_failed", { type: error.type, error: error.message })));
  } else {
    parts.summary.replaceChildren(createElement("p", {}, translate("push.cancelled")));
  }
}

/** @param {PushResult} result */
function countsLine(result) {
  const counts = result.counts;
  return translate("push.counts", {
    created: counts.created, updated: counts.updated, unchanged: counts.unchanged,
    conflicts: counts.conflicts, removed: counts.removed, failed: counts.failed,
  });
}

/**
 * What a push did, list by list (the ones that need a look open).
 * @param {PushResult} result
 */
function pushSummary(result) {
  const counts = result.counts;
  /** @type {[PushedCase[], number, string, string, boolean][]} cases, how many in all, title, class, open */
  const lists = [
    [result.created, counts.created, translate("push.created"), "push-created", true],
    [result.updated, counts.updated, translate("push.updated"), "push-updated", true],
    [result.conflicts, counts.conflicts, translate("push.conflicts"), "push-conflicts", true],
    [result.failed, counts.failed, translate("push.failed"), "push-failed-cases", true],
    [result.removed, counts.removed, translate("push.removed"), "push-removed", false],
    [result.unchanged, counts.unchanged, translate("push.unchanged"), "push-unchanged", false],
    [result.links_failed, counts.links_failed, translate("push.links_failed"), "push-links-failed", false],
  ];
  return [
    createElement("p", { className: "push-counts" }, countsLine(result)),
    result.skipped_unapproved ? createElement("p", { className: "muted push-unapproved" },
      translate("push.skipped_unapproved", { count: result.skipped_unapproved })) : null,
    ...lists
      .filter(([cases]) => cases.length)
      .map(([cases, total, title, className, open]) => createElement("details", { className, open },
        createElement("summary", {}, `${title} (${total})`),
        createElement("ul", {}, cases.map(caseItem)))),
  ].filter((part) => part !== null); // replaceChildren prints null
}

/**
 * One test case of a push: which one, its link in the tool (a new tab), and why, when it says.
 * @param {PushedCase} pushed
 */
function caseItem(pushed) {
  const where = pushed.url && /^https?:\/\//.test(pushed.url)
    ? createElement("a", { href: pushed.url, target: "_blank", rel: "noopener noreferrer", className: "push-link" }, pushed.remote_key || pushed.url)
    : pushed.remote_key || null;
  return createElement("li", { dataset: { testCase: String(pushed.test_case_id) } },
    translate("push.case", { story: pushed.story_id, id: pushed.test_case_id }),
    where ? [" → ", where] : null,
    pushed.message ? ` — ${pushed.message}` : null);
}
