// The import dialog (Jira, GitHub issues, Azure DevOps work items): its own EventSource on the job's
// event stream while it runs. An import that ended emits `storiesImported` (the list is loaded again).
import { translate } from "./i18n.js";
import { api, streamUrl } from "./api.js";
import { EVENT_NAMES, ROLE_STATUS, TERMINAL } from "./constants.js";
import { byId, createElement, encodePath, formField } from "./dom.js";
import { emit } from "./events.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/** @type {{ es: EventSource | null, taskId: string | null }} */
export const jira = { es: null, taskId: null };

/**
 * An import job's snapshot (its result: what was created, updated, skipped).
 * @typedef {object} ImportJob
 * @property {string} task_id
 * @property {string} status
 * @property {number} [progress]
 * @property {string} [message]
 * @property {import("./types.js").JobError | null} [error]
 * @property {{ counts?: Object<string, number>, created?: string[], updated?: string[],
 *   skipped?: { key: string, reason: string }[] } | null} [result]
 */

export function openJira() {
  if (!state.projects.size) {
    toast(translate("jira.no_project"), "error");
    return;
  }
  if (!jira.taskId) {
    byId("jira-summary").hidden = true;
    byId("jira-progress").hidden = true;
    byId("jira-error").textContent = "";
  }
  byId("jira-dialog", HTMLDialogElement).showModal();
}

/** Show the fields of the chosen source (Jira, GitHub, Azure DevOps); only the shown ones are required. */
export function showImportSource() {
  const form = byId("jira-form", HTMLFormElement);
  const source = formField(form, "source").value;
  for (const part of form.querySelectorAll("[data-source]")) {
    const shown = /** @type {HTMLElement} */ (part).dataset.source === source;
    /** @type {HTMLElement} */ (part).hidden = !shown;
    for (const field of part.querySelectorAll("textarea")) /** @type {HTMLTextAreaElement} */ (field).required = shown;
  }
}

/**
 * The import's route (below the project's, the source's value) and body for the form's source.
 * @param {HTMLFormElement} form
 * @returns {[string, object]}
 */
function importRequest(form) {
  const route = formField(form, "source").value;
  if (route.endsWith("/github")) {
    const labels = formField(form, "labels").value.split(",").map((label) => label.trim()).filter(Boolean);
    const milestone = formField(form, "milestone").value.trim();
    return [route, { labels, milestone: milestone || null, state: formField(form, "state").value }];
  }
  if (route.endsWith("/azure-devops")) return [route, { wiql: formField(form, "wiql").value }];
  const parts = [...form.querySelectorAll("input[name=with]:checked")].map((box) => /** @type {HTMLInputElement} */ (box).value);
  return [route, { jql: formField(form, "jql").value, with: parts }];
}

/** @param {SubmitEvent} event */
export async function startJira(event) {
  event.preventDefault();
  const form = byId("jira-form", HTMLFormElement);
  const projectId = Number(formField(form, "project_id").value);
  byId("jira-error").textContent = "";
  byId("jira-summary").hidden = true;
  byId("jira-start", HTMLButtonElement).disabled = true;
  try {
    const [route, body] = importRequest(form);
    const { data } = await api("POST", `/projects/${projectId}${route}`, body);
    followJira(data);
  } catch (err) {
    byId("jira-error").textContent = err.message;
    byId("jira-start", HTMLButtonElement).disabled = false;
  }
}

/** @param {{ task_id: string, status: string, events_url: string }} queued  the import's queue answer */
export async function followJira(queued) {
  jira.taskId = queued.task_id;
  showJiraProgress({ status: queued.status, progress: 0, message: translate("role.waiting") });
  byId("jira-cancel").hidden = false;
  let url;
  try {
    url = await streamUrl(queued.events_url, new URLSearchParams());
  } catch (err) {
    byId("jira-error").textContent = err.message;
    return;
  }
  if (jira.es) jira.es.close();
  const es = new EventSource(url);
  jira.es = es;
  for (const name of EVENT_NAMES) {
    es.addEventListener(name, (e) => {
      /** @type {ImportJob} */
      const snapshot = JSON.parse(/** @type {MessageEvent} */ (e).data);
      showJiraProgress(snapshot);
      if (TERMINAL.has(snapshot.status)) {
        es.close();
        jiraEnded(snapshot);
      }
    });
  }
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED && jira.es === es) {
      jira.es = null;
      // The stream was refused or the job ended before we connected: ask for its state once.
      api("GET", `/generate-test-cases/status/${encodePath(queued.task_id)}`)
        .then(({ data }) => {
          showJiraProgress(data);
          if (TERMINAL.has(data.status)) jiraEnded(data);
        })
        .catch((err) => (byId("jira-error").textContent = err.message));
    }
  };
}

/** @param {Pick<ImportJob, "status" | "progress" | "message">} snapshot */
export function showJiraProgress(snapshot) {
  byId("jira-progress").hidden = false;
  byId("jira-bar", HTMLProgressElement).value = snapshot.progress || 0;
  byId("jira-message").textContent = snapshot.message || snapshot.status;
}

/** @param {ImportJob} job */
export function jiraEnded(job) {
  jira.taskId = null;
  byId("jira-cancel").hidden = true;
  byId("jira-start", HTMLButtonElement).disabled = false;
  const summary = byId("jira-summary");
  summary.hidden = false;
  if (job.status === ROLE_STATUS.ready) {
    const result = job.result || {};
    const counts = result.counts || {};
    /**
     * @param {string} title
     * @param {string[] | undefined} items
     * @param {string} className
     */
    const list = (title, items, className) =>
      items && items.length
        ? createElement("details", { className }, createElement("summary", {}, `${title} (${items.length})`), createElement("ul", {}, items.map((i) => createElement("li", {}, i))))
        : null;
    const parts = [
      createElement(
        "p",
        { className: "jira-counts" },
        `${counts.created || 0} created, ${counts.updated || 0} updated, ${counts.unchanged || 0} unchanged, ` +
          `${counts.skipped || 0} skipped`,
      ),
      list(translate("jira.created"), result.created, "jira-created"),
      list(translate("jira.updated"), result.updated, "jira-updated"),
      list(translate("jira.skipped"), (result.skipped || []).map((s) => `${s.key}: ${s.reason}`), "jira-skipped"),
    ];
    summary.replaceChildren(...parts.filter((part) => part !== null)); // a null would show as "null"
    emit("storiesImported");
  } else if (job.status === ROLE_STATUS.error) {
    const error = job.error || { type: "error", message: job.message ?? "" };
    summary.replaceChildren(createElement("p", { className: "error-text" }, translate("jira.failed", { type: error.type, error: error.message })));
  } else {
    summary.replaceChildren(createElement("p", {}, translate("jira.cancelled")));
    emit("storiesImported");
  }
}

export async function cancelJira() {
  if (!jira.taskId) return;
  try {
    await api("POST", `/generate-test-cases/${encodePath(jira.taskId)}/cancel`);
  } catch (err) {
    byId("jira-error").textContent = err.message;
  }
}
