import { api } from "./api.js";
import { caseCard, readCard } from "./case-editor.js";
import { $, enc } from "./dom.js";
import { decorateReview, keptRepeats } from "./drafts.js";
import { forgetTask } from "./jobs.js";
import { state } from "./state.js";
import { renderStatus } from "./stories.js";
import { refreshStoryView } from "./story-view.js";
import { toast } from "./toasts.js";

// The review dialog: a finished job's draft, edited, pruned, then saved (or discarded).
export const review = { taskId: null, storyId: null, cases: [] };

export function deleteCase(card) {
  card.remove();
  updateReviewCount();
}

export function updateReviewCount() {
  const left = $("#review-cases").querySelectorAll(".case").length;
  $("#review-save").disabled = left === 0 || state.saved.has(review.taskId);
  $("#review-save").textContent = left === review.cases.length ? "Save all" : `Save all (${left})`;
}

export async function openReview(taskId) {
  let job;
  try {
    ({ data: job } = await api("GET", `/generate-test-cases/status/${enc(taskId)}`));
  } catch (err) {
    toast(`Could not load the draft: ${err.message}`, "error");
    return;
  }
  if (job.saved_at) {
    state.saved.set(taskId, state.saved.get(taskId) || true);
    renderStatus(job.story_id);
    toast(`${job.story_id}: this draft was saved already`);
    return;
  }
  const cases = (job.result && job.result.test_cases) || [];
  review.taskId = taskId;
  review.storyId = job.story_id;
  review.cases = cases;
  const stats = (job.result && job.result.stats) || {};
  $("#review-title").textContent = `Review ${job.story_id}: ${cases.length} suggested test cases`;
  const by = job.result ? ` by ${job.result.provider}/${job.result.model}` : "";
  $("#review-summary").textContent =
    `${stats.scenarios ?? "?"} scenarios${by}. ` +
    "Edit or delete test cases, then save the ones you keep.";
  $("#review-cases").replaceChildren(...cases.map((c, i) => caseCard(c, i, { onDelete: deleteCase })));
  decorateReview(job, $("#review-cases"));
  $("#review-status").textContent = "";
  $("#review-discard").disabled = false;
  updateReviewCount();
  $("#review").showModal();
}

export function collectCases() {
  return [...$("#review-cases").querySelectorAll(".case")].map((card) =>
    readCard(card, review.cases[Number(card.dataset.index)]),
  );
}

export async function saveReview() {
  const status = $("#review-status");
  let drafts;
  try {
    drafts = collectCases();
  } catch (err) {
    status.textContent = err.message;
    status.className = "error-text";
    return;
  }
  $("#review-save").disabled = true;
  try {
    const keep = keptRepeats($("#review-cases"));
    const { data } = await api("POST", `/generate-test-cases/${enc(review.taskId)}/save`, { test_cases: drafts, keep });
    state.saved.set(review.taskId, data.saved);
    const skipped = data.skipped.length ? `; skipped ${data.skipped.length} repeated scenarios` : "";
    status.textContent = `Saved ${data.saved} test case${data.saved === 1 ? "" : "s"}${skipped}`;
    status.className = "saved-count";
    $("#review-discard").disabled = true;
    renderStatus(review.storyId);
    refreshStoryView(review.storyId);
    toast(`${review.storyId}: saved ${data.saved} test cases`, "success");
  } catch (err) {
    status.textContent = err.message;
    status.className = "error-text";
    $("#review-save").disabled = false;
  }
}

export async function discardReview() {
  try {
    await api("DELETE", `/generate-test-cases/${enc(review.taskId)}`);
    forgetTask(review.taskId);
    $("#review").close();
    toast(`${review.storyId}: draft discarded`);
  } catch (err) {
    $("#review-status").textContent = err.message;
    $("#review-status").className = "error-text";
  }
}
