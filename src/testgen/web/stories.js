// The stories table: one row per story, its generate options, its job's badge and its export.
import { S, TERMINAL } from "./constants.js";
import { $, enc, h } from "./dom.js";
import { staleMarker } from "./drafts.js";
import { exportFile, formatSelect } from "./exports.js";
import { cancel, generate } from "./jobs.js";
import { openReview } from "./review.js";
import { state } from "./state.js";

export function renderStories() {
  const tbody = $("#stories tbody");
  state.rows.clear();
  tbody.replaceChildren(...state.stories.map(storyRow));
  $("#empty").hidden = state.stories.length > 0;
  for (const story of state.stories) renderStatus(story.id);
}

export function storyRow(story) {
  const project = state.projects.get(story.project_id);
  const cases = h("input", { type: "number", min: 1, max: 50, value: 5, className: "opt-cases", title: "test cases" });
  const scenarios = h("input", {
    type: "number", min: 1, max: 10, value: 3, className: "opt-scenarios", title: "scenarios per test case",
  });
  const button = h("button", { type: "button", className: "generate" }, "Generate");
  button.addEventListener("click", () => {
    if (cases.reportValidity() && scenarios.reportValidity()) generate(story, cases, scenarios);
  });
  const status = h("td", { className: "status" });
  const format = formatSelect("story-export-format");
  const exportButton = h("button", { type: "button", className: "link export" }, "Export");
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${enc(story.id)}/test-cases/export`, format.value, story.id),
  );
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const row = h(
    "tr",
    { dataset: { story: story.id } },
    h(
      "td",
      { className: "id" },
      jira ? h("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer", title: "Open in Jira" }, story.id) : story.id,
    ),
    h("td", { title: story.description || "" }, story.title),
    h("td", {}, project ? project.name : story.project_id === null ? "—" : `#${story.project_id}`),
    h("td", {}, story.priority),
    h("td", {}, String(story.acceptance_criteria.length), " ",
      staleMarker(story, () => generate(story, cases, scenarios, { only_changed: true }))),
    h("td", { className: "generate" }, cases, " × ", scenarios, " ", button),
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
        return h("span", { className: "badge", dataset: { state: status, warning: "no-worker" },
          title: state.noWorker }, `Queued — ${state.noWorker}`);
      }
      return h("span", { className: "badge", dataset: { state: status }, title }, "Queued");
    case S.starting:
      return h("span", { className: "badge", dataset: { state: status }, title }, "Starting…");
    case S.running:
      return h(
        "span",
        { className: "badge", dataset: { state: status }, title },
        h("span", { className: "spinner", "aria-hidden": "true" }),
        `Generating ${job.progress ?? 0}%`,
        h("span", { className: "bar" }, h("i", { style: `width:${job.progress ?? 0}%` })),
      );
    case S.ready:
      if (saved) {
        const text = saved === true ? "Saved" : `Saved ${saved} test case${saved === 1 ? "" : "s"}`;
        return h("span", { className: "badge", dataset: { state: "saved" }, title }, text);
      }
      return h(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: "Review the test cases",
          onclick: () => openReview(job.task_id) },
        "Ready for review",
      );
    case S.error:
      return h(
        "button",
        { type: "button", className: "badge", dataset: { state: status }, title: "Show the error",
          onclick: () => showError(job) },
        "Error",
      );
    default:
      return h("span", { className: "badge", dataset: { state: status }, title }, "Cancelled");
  }
}

export function renderStatus(storyId) {
  const parts = state.rows.get(storyId);
  if (!parts) return;
  const taskId = state.storyTask.get(storyId);
  const job = taskId && state.jobs.get(taskId);
  if (!job) {
    parts.status.replaceChildren(h("span", { className: "muted" }, "—"));
    parts.generate.disabled = false;
    return;
  }
  const running = !TERMINAL.has(job.status);
  parts.status.replaceChildren(badge(job));
  if (running) {
    parts.status.append(
      h("button", { type: "button", className: "link cancel", onclick: () => cancel(job.task_id) }, "Cancel"),
    );
  }
  parts.generate.disabled = running;
}

// --- error detail -------------------------------------------------------------------------------
export function showError(job) {
  const error = job.error || { type: "error", message: job.message || "unknown error" };
  $("#error-title").textContent = `${job.story_id}: generation failed`;
  $("#error-type").textContent = `${error.type} · task ${job.task_id}`;
  $("#error-detail").textContent = error.message;
  $("#error-dialog").showModal();
}
