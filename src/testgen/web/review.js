// The review dialog: a finished job's draft, edited, pruned, then saved (or discarded). Its review gate
// (review-gate.js): submit the draft for review, approve it or ask for changes, with comments. What
// the dialog offers follows the caller's role in the draft's project: viewers only read it, editors
// edit, submit and discard it, reviewers also approve and save it. A save emits `testCasesSaved` (the
// open story view shows them); the badges follow jobs.js.
import { translate } from "./i18n.js";
import { api } from "./api.js";
import { caseCard, readCard } from "./case-editor.js";
import { PROJECT_ROLE } from "./constants.js";
import { byId, encodePath } from "./dom.js";
import { refineBar } from "./design.js";
import { decorateReview, keptRepeats } from "./drafts.js";
import { emit } from "./events.js";
import { forgetTask, markSaved, noteReview } from "./jobs.js";
import { can } from "./permissions.js";
import { gateBlocksSave, renderGate } from "./review-gate.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").TestCase} TestCase
 * @typedef {import("./types.js").Job} Job
 */

/**
 * The draft on show; its job carries its story's project (a story's job names none itself).
 * @type {{ taskId: string, storyId: string, projectId: number | null, cases: TestCase[], job: Job | null }}
 */
export const review = { taskId: "", storyId: "", projectId: null, cases: [], job: null };

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
  const job = review.job;
  saveButton().disabled = left === 0 || state.saved.has(review.taskId) || Boolean(job && gateBlocksSave(job));
  saveButton().textContent = left === review.cases.length
    ? translate("page.save_all")
    : translate("review.save_some", { count: left });
}

/**
 * The dialog's parts as the caller's role allows: editors edit and discard, reviewers also save.
 * @param {Job} job
 */
function applyRole(job) {
  const editor = can(job.project_id, PROJECT_ROLE.editor);
  const reviewer = can(job.project_id, PROJECT_ROLE.reviewer);
  for (const field of casesBox().querySelectorAll("input, select, textarea")) {
    /** @type {HTMLInputElement} */ (field).disabled = !editor;
  }
  for (const button of casesBox().querySelectorAll(".case-delete")) /** @type {HTMLElement} */ (button).hidden = !editor;
  discardButton().hidden = !editor;
  saveButton().hidden = !reviewer;
}

/**
 * The dialog's gate as the draft's status says (after a review step: the cards keep their edits).
 * @param {Job} job
 */
function showGate(job) {
  if (job.task_id !== review.taskId) return; // another draft is on show now
  job = { ...job, project_id: review.projectId };
  review.job = job;
  if (job.result) review.cases = job.result.test_cases; // as edited by the steps' edits (same places)
  noteReview(job);
  renderGate(job, casesBox(), { persist: persistEdits, changed: showGate });
  updateReviewCount();
}

/** @param {TestCase} testCase  what an edit of the dialog may change of it */
const editable = (testCase) => JSON.stringify([testCase.title, testCase.priority, testCase.test_type, testCase.scenarios]);

/**
 * The test cases edited in the dialog, sent to the draft (PATCH …/test-cases/{index}) so that a
 * review step sees them; throws a message naming a missing field.
 */
async function persistEdits() {
  const job = review.job;
  if (!job || !can(job.project_id, PROJECT_ROLE.editor)) return;
  for (const card of casesBox().querySelectorAll(".case")) {
    const index = Number(/** @type {HTMLElement} */ (card).dataset.index);
    const original = review.cases[index];
    const edited = readCard(/** @type {HTMLElement} */ (card), original);
    if (editable(edited) === editable(original)) continue;
    const { data } = await api("PATCH", `/generate-test-cases/${encodePath(job.task_id)}/test-cases/${index}`, edited);
    if (data.result) review.cases = data.result.test_cases;
  }
}

/**
 * The project of a job's story: from the list or the story view, else asked.
 * @param {Job} job
 * @returns {Promise<number | null>}
 */
async function projectOfJob(job) {
  if (job.project_id !== null && job.project_id !== undefined) return job.project_id;
  const shown = state.stories.find((s) => s.id === job.story_id) ?? (state.view && state.view.storyId === job.story_id ? state.view.story : null);
  if (shown) return shown.project_id;
  const { data } = await api("GET", `/user-stories/${encodePath(job.story_id)}`);
  return data.project_id;
}

/**
 * Open the review dialog on a job's draft (or say it was saved already).
 * @param {string} taskId
 */
export async function openReview(taskId) {
  /** @type {Job} */
  let job;
  /** @type {number | null} */
  let projectId;
  try {
    ({ data: job } = await api("GET", `/generate-test-cases/status/${encodePath(taskId)}`));
    projectId = await projectOfJob(job);
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
  job = { ...job, project_id: projectId };
  review.taskId = taskId;
  review.storyId = job.story_id;
  review.projectId = projectId;
  review.cases = cases;
  review.job = job;
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
  document.querySelectorAll("#review .refine-bar").forEach((node) => node.remove());
  if (can(projectId, PROJECT_ROLE.editor)) casesBox().after(refineBar(taskId, casesBox(), () => openReview(taskId)));
  byId("review-status").textContent = "";
  discardButton().disabled = false;
  applyRole(job);
  showGate(job);
  const dialog = byId("review", HTMLDialogElement);
  if (!dialog.open) dialog.showModal(); // shown again after a refinement: already open
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
    emit("reviewsChanged");
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
    emit("reviewsChanged");
    toast(translate("review.discarded", { id: review.storyId }));
  } catch (err) {
    byId("review-status").textContent = err.message;
    byId("review-status").className = "error-text";
  }
}
