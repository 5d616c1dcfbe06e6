// The stories table: one row per story, its generate options, its job's badge and its export.
import { t } from "./i18n.js";
import { DEFAULT_ERROR_HINT, ERROR_HINTS, S, TERMINAL } from "./constants.js";
import { $, enc, h } from "./dom.js";
import { staleMarker } from "./drafts.js";
import { exportFile, formatSelect } from "./exports.js";
import { cancel, generate, retry } from "./jobs.js";
import { askToNotify } from "./notify.js";
import { openReview } from "./review.js";
import { navigate, storyHref } from "./route.js";
import { state } from "./state.js";

export function renderStories() {
  const tbody = $("#stories tbody");
  state.rows.clear();
  tbody.replaceChildren(...state.stories.map(storyRow));
  const filtered = Boolean(state.listQuery && (state.listQuery.q || state.listQuery.state || state.listQuery.project));
  $("#empty").hidden = state.stories.length > 0 || filtered;
  $("#no-match").hidden = state.stories.length > 0 || !filtered;
  for (const story of state.stories) renderStatus(story.id);
}

/** The generate controls of a story (test cases × scenarios, Generate): for its row and its view. */
export function generateControls(storyId) {
  const cases = h("input", {
    type: "number", min: 1, max: 50, value: 5, className: "opt-cases", "aria-label": t("story.test_cases_for", { id: storyId }),
  });
  const scenarios = h("input", {
    type: "number", min: 1, max: 10, value: 3, className: "opt-scenarios",
    "aria-label": t("story.scenarios_for", { id: storyId }),
  });
  const button = h("button", { type: "button", className: "generate", "aria-label": t("action.queue_story", { id: storyId }) }, t("action.queue"));
  const options = () => ({ num_test_cases: Number(cases.value), scenarios_per_test_case: Number(scenarios.value) });
  button.addEventListener("click", () => {
    askToNotify(); // a user gesture: the one moment the browser lets the page ask
    if (cases.reportValidity() && scenarios.reportValidity()) generate(storyId, options());
  });
  return { controls: [cases, " × ", scenarios, " ", button], button, options };
}

export function storyRow(story) {
  const project = state.projects.get(story.project_id);
  const { controls, button, options } = generateControls(story.id);
  const status = h("td", { className: "status" });
  const format = formatSelect("story-export-format", t("story.export_format_for", { id: story.id }));
  const exportButton = h("button", { type: "button", className: "link export", "aria-label": t("story.export_story", { id: story.id }) }, t("page.export"));
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${enc(story.id)}/test-cases/export`, format.value, story.id),
  );
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const open = h("a", { href: storyHref(story.id), className: "story-link" }, story.id);
  open.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return; // a new tab
    event.preventDefault();
    navigate({ story: story.id });
  });
  const row = h(
    "tr",
    { dataset: { story: story.id } },
    h(
      "td",
      { className: "id" },
      open,
      jira ? [" ", h("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer", className: "jira",
        "aria-label": t("story.in_jira", { id: story.id }) }, "Jira")] : null,
    ),
    h("td", {}, story.title),
    h("td", {}, project ? project.name : story.project_id === null ? "—" : `#${story.project_id}`),
    h("td", {}, t(`priority.${story.priority}`)),
    h("td", {}, String(story.acceptance_criteria.length), " ",
      staleMarker(story, () => generate(story.id, { ...options(), only_changed: true }))),
    h("td", { className: "generate" }, ...controls),
    status,
    h("td", { className: "export" }, format, " ", exportButton),
  );
  state.rows.set(story.id, { row, status, generate: button });
  return row;
}

export function badge(job) {
  const saved = state.saved.get(job.task_id);
  const title = job.message || "";
  const status = job.status; // the badge's data-state, which the style sheet colours
  switch (job.status) {
    case S.waiting:
      if (state.noWorker) {
        const warning = t("badge.no_worker"); // the server's NO_WORKER_RUNNING, in the page's language
        return h("span", { className: "badge", dataset: { state: status, warning: "no-worker" },
          title: warning }, t("badge.queued_no_worker", { warning }));
      }
      return h("span", { className: "badge", dataset: { state: status }, title }, t("role.waiting"));
    case S.starting:
      return h("span", { className: "badge", dataset: { state: status }, title }, t("role.starting"));
    case S.running:
      return h(
        "span",
        { className: "badge", dataset: { state: status }, title },
        h("span", { className: "spinner", "aria-hidden": "true" }),
        t("badge.generating", { percent: job.progress ?? 0 }),
        h("span", { className: "bar" }, h("i", { style: `width:${job.progress ?? 0}%` })),
      );
    case S.ready:
      if (saved) {
        const text = saved === true ? t("badge.saved") : t(saved === 1 ? "badge.saved_case" : "badge.saved_cases", { count: saved });
        return h("span", { className: "badge", dataset: { state: "saved" }, title }, text);
      }
      return h(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: t("badge.review_title"),
          onclick: () => openReview(job.task_id) },
        t("role.ready"),
      );
    case S.error:
      return h(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: t("badge.error_title"),
          onclick: () => showError(job) },
        t("role.error"),
      );
    default:
      return h("span", { className: "badge", dataset: { state: status }, title }, t("role.stopped"));
  }
}

/** Where a story's badge shows: its row in the list and, when it is open, its story view. */
export function statusTargets(storyId) {
  const targets = [];
  if (state.rows.has(storyId)) targets.push(state.rows.get(storyId));
  if (state.view && state.view.storyId === storyId) targets.push(state.view.parts);
  return targets;
}

export function renderAllStatuses() {
  for (const storyId of state.rows.keys()) renderStatus(storyId);
  if (state.view && !state.rows.has(state.view.storyId)) renderStatus(state.view.storyId);
}

export function renderStatus(storyId) {
  const taskId = state.storyTask.get(storyId);
  const job = taskId && state.jobs.get(taskId);
  for (const parts of statusTargets(storyId)) {
    if (!job) {
      parts.status.replaceChildren(h("span", { className: "muted" }, "—"));
      parts.generate.disabled = false;
      continue;
    }
    const running = !TERMINAL.has(job.status);
    parts.status.replaceChildren(badge(job));
    if (running) {
      parts.status.append(
        h("button", { type: "button", className: "link cancel", "aria-label": t("story.cancel_named", { id: storyId }),
          onclick: () => cancel(job.task_id) }, t("story.cancel")),
      );
    } else if (job.status === S.error || job.status === S.stopped) {
      parts.status.append(
        h("button", { type: "button", className: "link retry", "aria-label": t("story.retry_named", { id: storyId }),
          onclick: () => retry(job) }, t("page.retry")),
      );
    }
    parts.generate.disabled = running;
  }
}

// --- error detail -------------------------------------------------------------------------------
export function showError(job) {
  const error = job.error || { type: "error", message: job.message || "unknown error" };
  $("#error-title").textContent = t("error.title", { id: job.story_id });
  $("#error-type").textContent = t("error.type", { type: error.type, task: job.task_id });
  $("#error-detail").textContent = error.message;
  $("#error-hint").textContent = ERROR_HINTS[error.type] || DEFAULT_ERROR_HINT;
  $("#error-retry").onclick = () => {
    $("#error-dialog").close();
    retry(job);
  };
  $("#error-dialog").showModal();
}
