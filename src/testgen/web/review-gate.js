// The review gate of a draft in the review dialog: where it stands (in review, approved, changes
// requested), the steps so far with their comments (on the whole draft and on each test case), and the
// steps the caller may take now (POST /generate-test-cases/{task_id}/review): an editor submits it for
// review, a reviewer approves it or asks for changes (of an approved draft too). A project that
// requires review saves only an approved draft; one that does not allow self-approval lets no one
// approve their own draft. The dialog's edits go to the draft before each step, so the step sees them.
import { api } from "./api.js";
import { PROJECT_ROLE, REVIEW_ACTION, REVIEW_STATE } from "./constants.js";
import { report, when } from "./dialogs.js";
import { byId, createElement, encodePath } from "./dom.js";
import { emit } from "./events.js";
import { translate } from "./i18n.js";
import { can, myUserId } from "./permissions.js";
import { state } from "./state.js";

/**
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").ReviewStep} ReviewStep
 * @typedef {import("./types.js").Project} Project
 */

/**
 * @param {Job} job
 * @returns {Project | undefined}
 */
function projectOf(job) {
  return job.project_id === null || job.project_id === undefined ? undefined : state.projects.get(job.project_id);
}

/**
 * Whether the draft's project saves only approved drafts and this one is not approved yet.
 * @param {Job} job
 */
export function gateBlocksSave(job) {
  const project = projectOf(job);
  return Boolean(project && project.review_required && (!job.review || job.review.state !== REVIEW_STATE.approved));
}

/**
 * The review steps the caller may take on the draft now.
 * @param {Job} job
 * @returns {string[]}
 */
export function allowedSteps(job) {
  if (job.saved_at) return [];
  const current = job.review ? job.review.state : null;
  const steps = [];
  if (can(job.project_id, PROJECT_ROLE.editor) && (current === null || current === REVIEW_STATE.changes_requested)) {
    steps.push(REVIEW_ACTION.submit);
  }
  const reviewer = can(job.project_id, PROJECT_ROLE.reviewer);
  if (reviewer && (current === REVIEW_STATE.in_review || current === REVIEW_STATE.approved)) steps.push(REVIEW_ACTION.request_changes);
  if (reviewer && current === REVIEW_STATE.in_review) {
    const review = job.review;
    const own = Boolean(review && review.author_id !== null && review.author_id !== undefined && review.author_id === myUserId());
    const project = projectOf(job);
    if (!own || (project && project.allow_self_approval)) steps.push(REVIEW_ACTION.approve);
  }
  return steps;
}

/**
 * A review state as the page says it.
 * @param {string} reviewState
 */
export function stateLabel(reviewState) {
  switch (reviewState) {
    case REVIEW_STATE.in_review:
      return translate("gate.in_review");
    case REVIEW_STATE.approved:
      return translate("gate.approved");
    case REVIEW_STATE.changes_requested:
      return translate("gate.changes_requested");
    default:
      return reviewState;
  }
}

/** @param {string} action */
function stepLabel(action) {
  switch (action) {
    case REVIEW_ACTION.submit:
      return translate("gate.step_submit");
    case REVIEW_ACTION.approve:
      return translate("gate.step_approve");
    case REVIEW_ACTION.request_changes:
      return translate("gate.step_request_changes");
    default:
      return action;
  }
}

/** @param {string} action */
function buttonLabel(action) {
  switch (action) {
    case REVIEW_ACTION.submit:
      return translate("gate.submit");
    case REVIEW_ACTION.approve:
      return translate("gate.approve");
    default:
      return translate("gate.request_changes");
  }
}

/** @param {string} action  the button's id */
const buttonId = (action) => `review-${action.replaceAll("_", "-")}`;

/**
 * Who took a step, as a reader knows them ("user:ada@example.com" -> "ada@example.com").
 * @param {string} actor
 */
export const actorName = (actor) => actor.replace(/^user:/, "");

/** The parts the gate adds to the dialog (made once): steps above the cards, a comment and buttons below. */
function parts() {
  let steps = document.getElementById("review-steps");
  if (!steps) {
    steps = createElement("div", { id: "review-steps", className: "review-steps" });
    byId("review-summary").after(steps);
    const comment = createElement("textarea", { id: "review-comment", rows: 2, placeholder: translate("gate.comment_placeholder") });
    byId("review-cases").after(createElement("label", { id: "review-gate", className: "review-gate" }, translate("gate.comment"), comment));
    const buttons = [REVIEW_ACTION.submit, REVIEW_ACTION.request_changes, REVIEW_ACTION.approve].map((action) =>
      createElement("button", { type: "button", id: buttonId(action), className: action === REVIEW_ACTION.approve ? "primary" : "", hidden: true,
        dataset: { action } }, buttonLabel(action)));
    byId("review-discard").before(...buttons);
  }
  return {
    steps,
    gate: byId("review-gate"),
    comment: byId("review-comment", HTMLTextAreaElement),
    buttons: [REVIEW_ACTION.submit, REVIEW_ACTION.request_changes, REVIEW_ACTION.approve].map((a) => byId(buttonId(a), HTMLButtonElement)),
  };
}

/**
 * One step of the review, with its overall comment.
 * @param {ReviewStep} step
 */
function stepItem(step) {
  return createElement("li", { className: "review-step", dataset: { action: step.action } },
    createElement("strong", {}, actorName(step.actor)), ` ${stepLabel(step.action)} · ${when(step.at)}`,
    step.comment ? createElement("div", { className: "review-step-comment" }, step.comment) : null);
}

/**
 * Each test case's comments of the steps so far, under its card; a comment field on each card when
 * the caller reviews the draft now.
 * @param {ReviewStep[]} steps
 * @param {HTMLElement} casesBox
 * @param {boolean} commenting
 */
function caseNotes(steps, casesBox, commenting) {
  for (const card of casesBox.querySelectorAll(".case")) {
    const index = /** @type {HTMLElement} */ (card).dataset.index ?? "";
    card.querySelectorAll(".case-notes, .case-comment-label").forEach((node) => node.remove());
    const notes = steps
      .filter((step) => step.test_case_comments && step.test_case_comments[index])
      .map((step) => createElement("li", {}, createElement("strong", {}, actorName(step.actor)), `: ${(step.test_case_comments ?? {})[index]}`));
    if (notes.length) card.append(createElement("ul", { className: "case-notes" }, notes));
    if (commenting) {
      card.append(createElement("label", { className: "case-comment-label" }, translate("gate.case_comment", { n: Number(index) + 1 }),
        createElement("textarea", { className: "case-comment", rows: 1, dataset: { index } })));
    }
  }
}

/**
 * What the dialog does around a step: `persist()` sends its edits to the draft before (throws a
 * message when a card is incomplete), `changed(job)` shows the draft's status the step answered.
 * @typedef {object} StepHooks
 * @property {() => Promise<void>} persist
 * @property {(job: Job) => void} changed
 */

/**
 * The gate of the draft on show: its state and steps, and the steps the caller may take.
 * @param {Job} job
 * @param {HTMLElement} casesBox
 * @param {StepHooks} hooks
 */
export function renderGate(job, casesBox, hooks) {
  const { steps, gate, comment, buttons } = parts();
  const allowed = allowedSteps(job);
  const review = job.review || null;
  const history = review ? review.steps : [];
  const blocked = gateBlocksSave(job);
  steps.replaceChildren(
    ...[
      review ? createElement("p", { className: "review-state", dataset: { state: review.state } }, translate("gate.state", { state: stateLabel(review.state) })) : null,
      blocked ? createElement("p", { className: "muted review-required" }, translate("gate.required")) : null,
      history.length ? createElement("ol", { className: "review-history" }, history.map(stepItem)) : null,
    ].filter((node) => node !== null), // replaceChildren prints null
  );
  steps.hidden = !steps.childElementCount;
  caseNotes(history, casesBox, allowed.includes(REVIEW_ACTION.approve) || allowed.includes(REVIEW_ACTION.request_changes));
  gate.hidden = !allowed.length;
  comment.value = "";
  for (const button of buttons) {
    const action = button.dataset.action ?? "";
    button.hidden = !allowed.includes(action);
    button.disabled = false;
    button.onclick = () => takeStep(job, action, casesBox, hooks);
  }
}

/**
 * Take a review step with the comments written in the dialog (its edits sent first).
 * @param {Job} job
 * @param {string} action
 * @param {HTMLElement} casesBox
 * @param {StepHooks} hooks
 */
async function takeStep(job, action, casesBox, hooks) {
  const { comment, buttons } = parts();
  const status = byId("review-status");
  /** @type {Record<string, string>} */
  const caseComments = {};
  for (const field of casesBox.querySelectorAll("textarea.case-comment")) {
    const text = /** @type {HTMLTextAreaElement} */ (field).value.trim();
    if (text) caseComments[/** @type {HTMLElement} */ (field).dataset.index ?? ""] = text;
  }
  /** @type {{ action: string, comment?: string, test_case_comments?: Record<string, string> }} */
  const body = { action };
  if (comment.value.trim()) body.comment = comment.value.trim();
  if (Object.keys(caseComments).length) body.test_case_comments = caseComments;
  for (const button of buttons) button.disabled = true;
  let answer;
  try {
    await hooks.persist();
    ({ data: answer } = await api("POST", `/generate-test-cases/${encodePath(job.task_id)}/review`, body));
  } catch (err) {
    report(status, err.message, false);
    for (const button of buttons) button.disabled = false;
    return;
  }
  hooks.changed(answer);
  report(status, translate("gate.done", { step: stepLabel(action) }), true);
  emit("reviewsChanged");
}
