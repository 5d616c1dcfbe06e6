import { t } from "./i18n.js";
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
  $("#review-save").textContent = left === review.cases.length ? t("page.save_all") : t("review.save_some", { count: left });
}

export async function openReview(taskId) {
  let job;
  try {
    ({ data: job } = await api("GET", `/generate-test-cases/status/${enc(taskId)}`));
  } catch (err) {
    toast(t("review.load_failed", { error: err.message }), "error");
    return;
  }
  if (job.saved_at) {
    state.saved.set(taskId, state.saved.get(taskId) || true);
    renderStatus(job.story_id);
    toast(t("review.saved_already", { id: job.story_id }));
    return;
  }
  const cases = (job.result && job.result.test_cases) || [];
  review.taskId = taskId;
  review.storyId = job.story_id;
  review.cases = cases;
  const stats = (job.result && job.result.stats) || {};
  $("#review-title").textContent = t("review.title", { id: job.story_id, count: cases.length });
  const result = job.result || {};
  const by = job.result ? t("review.by", { provider: result.provider, model: result.model }) : "";
  const language = result.language ? t("review.language", { language: result.language }) : "";
  const mismatch = result.language_mismatch ? t("review.language_mismatch", { language: result.language }) : "";
  $("#review-summary").textContent =
    t("review.summary", { count: stats.scenarios ?? "?", by, language }) + mismatch + t("review.help");
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
    const skipped = data.skipped.length ? t("review.skipped", { count: data.skipped.length }) : "";
    status.textContent = (data.saved === 1 ? t("badge.saved_case") : t("badge.saved_cases", { count: data.saved })) + skipped;
    status.className = "saved-count";
    $("#review-discard").disabled = true;
    renderStatus(review.storyId);
    refreshStoryView(review.storyId);
    toast(t("review.saved", { id: review.storyId, count: data.saved }), "success");
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
    toast(t("review.discarded", { id: review.storyId }));
  } catch (err) {
    $("#review-status").textContent = err.message;
    $("#review-status").className = "error-text";
  }
}
