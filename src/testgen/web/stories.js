// The stories table: one row per story, its generate options, its job's badge and its export. Only
// editors of a story's project are offered to generate, cancel and retry.
import { translate } from "./i18n.js";
import { errorHint, LIMITS, PROJECT_ROLE, ROLE_STATUS, TERMINAL } from "./constants.js";
import { byId, createElement, encodePath } from "./dom.js";
import { staleMarker } from "./drafts.js";
import { exportFile, formatSelect } from "./exports.js";
import { inputLimits } from "./input-limits.js";
import { cancel, generate, retryOptions } from "./jobs.js";
import { techniquePicker } from "./design.js";
import { askToNotify } from "./notify.js";
import { openReview } from "./review.js";
import { can } from "./permissions.js";
import { stateLabel } from "./review-gate.js";
import { navigate, storyHref } from "./route.js";
import { state } from "./state.js";

/**
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").Story} Story
 * @typedef {import("./types.js").GenerateOptions} GenerateOptions
 */

export function renderStories() {
  const tbody = byId("stories").querySelector("tbody");
  if (!tbody) return;
  state.rows.clear();
  tbody.replaceChildren(...state.stories.map(storyRow));
  const filtered = Boolean(state.listQuery && (state.listQuery.q || state.listQuery.state || state.listQuery.project));
  byId("empty").hidden = state.stories.length > 0 || filtered;
  byId("no-match").hidden = state.stories.length > 0 || !filtered;
  for (const story of state.stories) renderStatus(story.id);
}

/**
 * Queue a generation job for a story; its Generate buttons stay off until the answer.
 * @param {string} storyId
 * @param {GenerateOptions} options
 */
export function queueGeneration(storyId, options) {
  for (const parts of statusTargets(storyId)) parts.generate.disabled = true;
  return generate(storyId, options);
}

/**
 * The project of a story on show (in the list or its view).
 * @param {string} storyId
 * @returns {number | null | undefined}
 */
function storyProject(storyId) {
  const story = state.stories.find((s) => s.id === storyId) ?? (state.view && state.view.storyId === storyId ? state.view.story : undefined);
  return story ? story.project_id : undefined;
}

/**
 * Whether the caller may generate, cancel and retry for the story (an editor of its project).
 * @param {string} storyId
 * @param {number | null | undefined} [projectId]  when known
 */
export function mayGenerate(storyId, projectId) {
  return can(projectId === undefined ? storyProject(storyId) : projectId, PROJECT_ROLE.editor);
}

/**
 * The generate controls of a story (test cases × scenarios, Generate): for its row and its view;
 * hidden from those who may not generate in its project.
 * @param {string} storyId
 * @param {number | null} projectId
 */
export function generateControls(storyId, projectId) {
  const { num_test_cases: caseBounds, scenarios_per_test_case: scenarioBounds } = LIMITS.generate;
  const cases = createElement("input", {
    type: "number", ...inputLimits(caseBounds), value: caseBounds.default, className: "opt-cases",
    "aria-label": translate("story.test_cases_for", { id: storyId }),
  });
  const scenarios = createElement("input", {
    type: "number", ...inputLimits(scenarioBounds), value: scenarioBounds.default, className: "opt-scenarios",
    "aria-label": translate("story.scenarios_for", { id: storyId }),
  });
  const button = createElement("button", { type: "button", className: "generate",
    "aria-label": translate("action.queue_story", { id: storyId }) }, translate("action.queue"));
  const techniques = techniquePicker(`techniques-${storyId}`, null);
  /** @returns {GenerateOptions} */
  const options = () => {
    const chosen = techniques.value();
    return { num_test_cases: Number(cases.value), scenarios_per_test_case: Number(scenarios.value), ...(chosen.length ? { techniques: chosen } : {}) };
  };
  button.addEventListener("click", () => {
    askToNotify(); // a user gesture: the one moment the browser lets the page ask
    if (cases.reportValidity() && scenarios.reportValidity()) queueGeneration(storyId, options());
  });
  const controls = createElement("span", { className: "generate-controls", hidden: !mayGenerate(storyId, projectId) },
    cases, " × ", scenarios, " ", button, techniques.element);
  return { controls: [controls], button, options };
}

/** @param {Story} story */
export function storyRow(story) {
  const project = story.project_id === null ? undefined : state.projects.get(story.project_id);
  const { controls, button, options } = generateControls(story.id, story.project_id);
  const status = createElement("td", { className: "status" });
  const format = formatSelect("story-export-format", translate("story.export_format_for", { id: story.id }));
  const exportButton = createElement("button", { type: "button", className: "link export",
    "aria-label": translate("story.export_story", { id: story.id }) }, translate("page.export"));
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${encodePath(story.id)}/test-cases/export`, format.value, story.id),
  );
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const open = createElement("a", { href: storyHref(story.id), className: "story-link" }, story.id);
  open.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return; // a new tab
    event.preventDefault();
    navigate({ story: story.id });
  });
  const row = createElement(
    "tr",
    { dataset: { story: story.id } },
    createElement(
      "td",
      { className: "id" },
      open,
      jira ? [" ", createElement("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer", className: "jira",
        "aria-label": translate("story.in_jira", { id: story.id }) }, "Jira")] : null,
    ),
    createElement("td", {}, story.title),
    createElement("td", {}, project ? project.name : story.project_id === null ? "—" : `#${story.project_id}`),
    createElement("td", {}, translate(`priority.${story.priority}`)),
    createElement("td", {}, String(story.acceptance_criteria.length), " ",
      staleMarker(story, mayGenerate(story.id, story.project_id)
        ? () => queueGeneration(story.id, { ...options(), only_changed: true })
        : null)),
    createElement("td", { className: "generate" }, ...controls),
    status,
    createElement("td", { className: "export" }, format, " ", exportButton),
  );
  state.rows.set(story.id, { row, status, generate: button });
  return row;
}

/**
 * A job's badge: what its status means, as a button where there is something to open.
 * @param {Job} job
 */
export function badge(job) {
  const saved = state.saved.get(job.task_id);
  const title = job.message || "";
  const status = job.status; // the badge's data-state, which the style sheet colours
  switch (job.status) {
    case ROLE_STATUS.waiting:
      if (state.noWorker) {
        const warning = translate("badge.no_worker"); // the server's NO_WORKER_RUNNING, in the page's language
        return createElement("span", { className: "badge", dataset: { state: status, warning: "no-worker" },
          title: warning }, translate("badge.queued_no_worker", { warning }));
      }
      return createElement("span", { className: "badge", dataset: { state: status }, title }, translate("role.waiting"));
    case ROLE_STATUS.starting:
      return createElement("span", { className: "badge", dataset: { state: status }, title }, translate("role.starting"));
    case ROLE_STATUS.running:
      return createElement(
        "span",
        { className: "badge", dataset: { state: status }, title },
        createElement("span", { className: "spinner", "aria-hidden": "true" }),
        translate("badge.generating", { percent: job.progress ?? 0 }),
        createElement("span", { className: "bar" }, createElement("i", { style: `width:${job.progress ?? 0}%` })),
      );
    case ROLE_STATUS.ready:
      if (saved) {
        const text = saved === true
          ? translate("badge.saved")
          : translate(saved === 1 ? "badge.saved_case" : "badge.saved_cases", { count: saved });
        return createElement("span", { className: "badge", dataset: { state: "saved" }, title }, text);
      }
      return createElement(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: translate("badge.review_title"),
          onclick: () => openReview(job.task_id) },
        translate("role.ready"),
      );
    case ROLE_STATUS.error:
      return createElement(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: translate("badge.error_title"),
          onclick: () => showError(job) },
        translate("role.error"),
      );
    default:
      return createElement("span", { className: "badge", dataset: { state: status }, title }, translate("role.stopped"));
  }
}

/**
 * Where a story's badge shows: its row in the list and, when it is open, its story view.
 * @param {string} storyId
 */
export function statusTargets(storyId) {
  const targets = [];
  const row = state.rows.get(storyId);
  if (row) targets.push(row);
  if (state.view && state.view.storyId === storyId) targets.push(state.view.parts);
  return targets;
}

export function renderAllStatuses() {
  for (const storyId of state.rows.keys()) renderStatus(storyId);
  if (state.view && !state.rows.has(state.view.storyId)) renderStatus(state.view.storyId);
}

/**
 * A story's badge, Cancel or Retry, and whether it may be generated now, wherever they show.
 * @param {string} storyId
 */
export function renderStatus(storyId) {
  const taskId = state.storyTask.get(storyId);
  const job = taskId && state.jobs.get(taskId);
  const editor = job ? mayGenerate(storyId, job.project_id ?? undefined) : false;
  for (const parts of statusTargets(storyId)) {
    if (!job) {
      parts.status.replaceChildren(createElement("span", { className: "muted" }, "—"));
      parts.generate.disabled = false;
      continue;
    }
    const running = !TERMINAL.has(job.status);
    parts.status.replaceChildren(badge(job));
    const review = job.review;
    if (review && !state.saved.has(job.task_id)) {
      parts.status.append(" ", createElement("span", { className: "tag review-tag", dataset: { state: review.state } }, stateLabel(review.state)));
    }
    if (editor && running) {
      parts.status.append(
        createElement("button", { type: "button", className: "link cancel",
          "aria-label": translate("story.cancel_named", { id: storyId }),
          onclick: () => cancel(job.task_id) }, translate("story.cancel")),
      );
    } else if (editor && (job.status === ROLE_STATUS.error || job.status === ROLE_STATUS.stopped)) {
      parts.status.append(
        createElement("button", { type: "button", className: "link retry",
          "aria-label": translate("story.retry_named", { id: storyId }),
          onclick: () => queueGeneration(job.story_id, retryOptions(job)) }, translate("page.retry")),
      );
    }
    parts.generate.disabled = running;
  }
}

// --- error detail -------------------------------------------------------------------------------
/**
 * The error dialog of a failed job: its type, message and what to do about it.
 * @param {Job} job
 */
export function showError(job) {
  const error = job.error || { type: "error", message: job.message || "unknown error" };
  const dialog = byId("error-dialog", HTMLDialogElement);
  byId("error-title").textContent = translate("error.title", { id: job.story_id });
  byId("error-type").textContent = translate("error.type", { type: error.type, task: job.task_id });
  byId("error-detail").textContent = error.message;
  byId("error-hint").textContent = errorHint(error.type);
  byId("error-retry").hidden = !mayGenerate(job.story_id, job.project_id ?? undefined);
  byId("error-retry").onclick = () => {
    dialog.close();
    queueGeneration(job.story_id, retryOptions(job));
  };
  dialog.showModal();
}
