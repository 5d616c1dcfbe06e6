import { api } from "./api.js";
import { auth } from "./auth.js";
import { EVENT_NAMES, S, TERMINAL } from "./constants.js";
import { $, enc, field, h } from "./dom.js";
import { load } from "./load.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

// --- the Jira import dialog: its own EventSource on the job's event stream while it runs ----------
export const jira = { es: null, taskId: null };

export function openJira() {
  if (!state.projects.size) {
    toast("Add a project first (with a story), then import into it", "error");
    return;
  }
  if (!jira.taskId) {
    $("#jira-summary").hidden = true;
    $("#jira-progress").hidden = true;
    $("#jira-error").textContent = "";
  }
  $("#jira-dialog").showModal();
}

export async function startJira(event) {
  event.preventDefault();
  const form = $("#jira-form");
  const projectId = Number(field(form, "project_id").value);
  $("#jira-error").textContent = "";
  $("#jira-summary").hidden = true;
  $("#jira-start").disabled = true;
  try {
    const { data } = await api("POST", `/projects/${projectId}/imports/jira`, { jql: field(form, "jql").value });
    followJira(data);
  } catch (err) {
    $("#jira-error").textContent = err.message;
    $("#jira-start").disabled = false;
  }
}

export async function followJira(queued) {
  jira.taskId = queued.task_id;
  showJiraProgress({ status: queued.status, progress: 0, message: "Queued" });
  $("#jira-cancel").hidden = false;
  let url;
  try {
    url = await auth.streamUrl(queued.events_url, new URLSearchParams());
  } catch (err) {
    $("#jira-error").textContent = err.message;
    return;
  }
  if (jira.es) jira.es.close();
  const es = new EventSource(url);
  jira.es = es;
  for (const name of EVENT_NAMES) {
    es.addEventListener(name, (e) => {
      const snapshot = JSON.parse(e.data);
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
      api("GET", `/generate-test-cases/status/${enc(queued.task_id)}`)
        .then(({ data }) => {
          showJiraProgress(data);
          if (TERMINAL.has(data.status)) jiraEnded(data);
        })
        .catch((err) => ($("#jira-error").textContent = err.message));
    }
  };
}

export function showJiraProgress(snapshot) {
  $("#jira-progress").hidden = false;
  $("#jira-bar").value = snapshot.progress || 0;
  $("#jira-message").textContent = snapshot.message || snapshot.status;
}

export function jiraEnded(job) {
  jira.taskId = null;
  $("#jira-cancel").hidden = true;
  $("#jira-start").disabled = false;
  const summary = $("#jira-summary");
  summary.hidden = false;
  if (job.status === S.ready) {
    const result = job.result || {};
    const counts = result.counts || {};
    const list = (title, items, className) =>
      items && items.length
        ? h("details", { className }, h("summary", {}, `${title} (${items.length})`), h("ul", {}, items.map((i) => h("li", {}, i))))
        : null;
    summary.replaceChildren(
      h(
        "p",
        { className: "jira-counts" },
        `${counts.created || 0} created, ${counts.updated || 0} updated, ${counts.unchanged || 0} unchanged, ` +
          `${counts.skipped || 0} skipped`,
      ),
      list("Created", result.created, "jira-created"),
      list("Updated", result.updated, "jira-updated"),
      list("Skipped", (result.skipped || []).map((s) => `${s.key}: ${s.reason}`), "jira-skipped"),
    );
    load().catch((err) => toast(err.message, "error"));
  } else if (job.status === S.error) {
    const error = job.error || { type: "error", message: job.message };
    summary.replaceChildren(h("p", { className: "error-text" }, `Import failed (${error.type}): ${error.message}`));
  } else {
    summary.replaceChildren(h("p", {}, "Import cancelled; the stories read before stay imported."));
    load().catch((err) => toast(err.message, "error"));
  }
}

export async function cancelJira() {
  if (!jira.taskId) return;
  try {
    await api("POST", `/generate-test-cases/${enc(jira.taskId)}/cancel`);
  } catch (err) {
    $("#jira-error").textContent = err.message;
  }
}
