import { api } from "./api.js";
import { PRIORITIES, TEST_TYPES } from "./constants.js";
import { $, enc, h } from "./dom.js";
import { decorateReview, keptRepeats } from "./drafts.js";
import { forgetTask } from "./jobs.js";
import { state } from "./state.js";
import { renderStatus } from "./stories.js";
import { toast } from "./toasts.js";

// --- review ---------------------------------------------------------------------------------------
export const review = { taskId: null, storyId: null, cases: [] };

export function stepsText(scenario) {
  const lines = [];
  for (const [keyword, steps] of [["Given", scenario.given], ["When", scenario.when], ["Then", scenario.then]]) {
    steps.forEach((step, i) => lines.push(`${i === 0 ? keyword : "And"} ${step}`));
  }
  return lines.join("\n");
}

/** "Given …/And …/When …/Then …" lines back into the three step lists. */
export function parseSteps(text) {
  const steps = { given: [], when: [], then: [] };
  let section = "given";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const match = /^(given|when|then|and|but|\*)\s+(.*)$/i.exec(line);
    let content = line;
    if (match) {
      const keyword = match[1].toLowerCase();
      if (keyword === "given" || keyword === "when" || keyword === "then") section = keyword;
      content = match[2].trim();
    }
    if (content) steps[section].push(content);
  }
  return steps;
}

export function caseCard(testCase, index) {
  const select = (options, value, className) =>
    h("select", { className }, ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
  const card = h(
    "div",
    { className: "case", dataset: { index: String(index) } },
    h(
      "div",
      { className: "case-head" },
      h("span", { className: "num" }, `#${index + 1}`),
      h("input", { className: "case-title", value: testCase.title, maxLength: 200, required: true, "aria-label": "title" }),
      select(PRIORITIES, testCase.priority, "case-priority"),
      select(TEST_TYPES, testCase.test_type, "case-type"),
      h("button", { type: "button", className: "danger small case-delete", onclick: () => deleteCase(card) }, "Delete"),
    ),
    testCase.description ? h("div", { className: "muted" }, testCase.description) : null,
    ...testCase.scenarios.map((scenario) =>
      h(
        "div",
        { className: "scenario" },
        h("input", { className: "scenario-title", value: scenario.title, "aria-label": "scenario title" }),
        h("textarea", {
          className: "scenario-steps",
          rows: scenario.given.length + scenario.when.length + scenario.then.length,
          value: stepsText(scenario),
          "aria-label": "steps",
        }),
      ),
    ),
  );
  return card;
}

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
  $("#review-cases").replaceChildren(...cases.map(caseCard));
  decorateReview(job, $("#review-cases"));
  $("#review-status").textContent = "";
  $("#review-discard").disabled = false;
  updateReviewCount();
  $("#review").showModal();
}

export function collectCases() {
  const drafts = [];
  for (const card of $("#review-cases").querySelectorAll(".case")) {
    const original = review.cases[Number(card.dataset.index)];
    const number = Number(card.dataset.index) + 1;
    const title = $(".case-title", card).value.trim();
    if (!title) throw new Error(`Test case #${number} needs a title`);
    const scenarios = [...card.querySelectorAll(".scenario")].map((el, i) => {
      const steps = parseSteps($(".scenario-steps", el).value);
      const missing = ["given", "when", "then"].filter((k) => !steps[k].length);
      $(".scenario-steps", el).classList.toggle("invalid", missing.length > 0);
      if (missing.length) {
        throw new Error(`Test case #${number}, scenario ${i + 1}: add a ${missing.map((m) => m[0].toUpperCase() + m.slice(1)).join(", ")} step`);
      }
      return { title: $(".scenario-title", el).value.trim() || original.scenarios[i].title, ...steps };
    });
    drafts.push({
      ...original,
      title,
      priority: $(".case-priority", card).value,
      test_type: $(".case-type", card).value,
      scenarios,
    });
  }
  return drafts;
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
