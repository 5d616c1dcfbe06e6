// The review dialog: a finished job's draft, edited, pruned, then saved (or discarded). A save emits
// `testCasesSaved` (the open story view shows them); the badges follow jobs.js.
import { translate } from "./i18n.js";
import { api } from "./api.js";
import { caseCard, readCard } from "./case-editor.js";
import { byId, encodePath } from "./dom.js";
import { decorateReview, keptRepeats } from "./drafts.js";
import { emit } from "./events.js";
import { forgetTask, markSaved } from "./jobs.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/** @typedef {import("./types.js").TestCase} TestCase */

/** @type {{ taskId: string, storyId: string, cases: TestCase[] }} the draft on show */
export const review = { taskId: "", storyId: "", cases: [] };

const casesBox = () => byId("review-cases");
const saveButton = () => byId("review-save", HTMLButtonElement);
const discardButton = () => byId("review-discard", HTMLButtonElement);

/** @param {HTMLElement} card */
export function deleteCase(card) {
  card.remove();
  updateReviewCount();
}

export function updateReviewCount() {
  const left = casesBox().querySelectorAll(".case").length;
  saveButton().disabled = left === 0 || state.saved.has(review.taskId);
  saveButton().textContent = left === review.cases.length
    ? translate("page.save_all")
    : translate("review.save_some", { count: left });
}

/**
 * Open the review dialog on a job's draft (or say it was saved already).
 * @param {string} taskId
 */
export async function openReview(taskId) {
  /** @type {import("./types.js").Job} */
  let job;
  try {
    ({ data: job } = await api("GET", `/generate-test-cases/status/${encodePath(taskId)}`));
  } catch (err) {
    toast(translate("review.load_failed", { error: err.message }), "error");
    return;
  }
  if (job.saved_at) {
    markSaved(taskId, job.story_id, state.saved.get(taskId) || true);
    toast(translate("review.saved_already", { id: job.story_id }));
    return;
  }
  const cases = (job.result && job.result.test_cases) || [];
  review.taskId = taskId;
  review.storyId = job.story_id;
  review.cases = cases;
  const stats = (job.result && job.result.stats) || {};
  byId("review-title").textContent = translate("review.title", { id: job.story_id, count: cases.length });
  const result = job.result || { test_cases: [] };
  const by = job.result ? translate("review.by", { provider: result.provider ?? "", model: result.model ?? "" }) : "";
  const language = result.language ? translate("review.language", { language: result.language }) : "";
  const mismatch = result.language_mismatch ? translate("review.language_mismatch", { language: result.language ?? "" }) : "";
  byId("review-summary").textContent =
    translate("review.summary", { count: stats.scenarios ?? "?", by, language }) + mismatch + translate("review.help");
  casesBox().replaceChildren(...cases.map((c, i) => caseCard(c, i, { onDelete: deleteCase })));
  decorateReview(job, casesBox());
  byId("review-status").textContent = "";
  discardButton().disabled = false;
  updateReviewCount();
  byId("review", HTMLDialogElement).showModal();
}

/** The test cases left in the dialog, as edited (throws a message naming a missing field). */
export function collectCases() {
  return [...casesBox().querySelectorAll(".case")].map((card) =>
    readCard(/** @type {HTMLElement} */ (card), review.cases[Number(/** @type {HTMLElement} */ (card).dataset.index)]),
  );
}

export async function saveReview() {
  const status = byId("review-status");
  let drafts;
  try {
    drafts = collectCases();
  } catch (err) {
    status.textContent = err.message;
    status.className = "error-text";
    return;
  }
  saveButton().disabled = true;
  try {
    const keep = keptRepeats(casesBox());
    const { data } = await api("POST", `/generate-test-cases/${encodePath(review.taskId)}/save`, { test_cases: drafts, keep });
    const skipped = data.skipped.length ? translate("review.skipped", { count: data.skipped.length }) : "";
    status.textContent = (data.saved === 1
      ? translate("badge.saved_case")
      : translate("badge.saved_cases", { count: data.saved })) + skipped;
    status.className = "saved-count";
    discardButton().disabled = true;
    markSaved(review.taskId, review.storyId, data.saved);
    emit("testCasesSaved", review.storyId);
    toast(translate("review.saved", { id: review.storyId, count: data.saved }), "success");
  } catch (err) {
    status.textContent = err.message;
    status.className = "error-text";
    saveButton().disabled = false;
  }
}

export async function discardReview() {
  try {
    await api("DELETE", `/generate-test-cases/${encodePath(review.taskId)}`);
    forgetTask(review.taskId);
    byId("review", HTMLDialogElement).close();
    toast(translate("review.discarded", { id: review.storyId }));
  } catch (err) {
    byId("review-status").textContent = err.message;
    byId("review-status").className = "error-text";
  }
}
