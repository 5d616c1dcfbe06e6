// Better drafts on the page: the review dialog's coverage grid and "repeats saved test …" flags,
// each project's settings (instructions, budget, review gate: project admins change them) and usage
// chart, and a story's stale tests.
import { api } from "./api.js";
import { translate } from "./i18n.js";
import { LIMITS, PROJECT_ROLE } from "./constants.js";
import { createElement, encodePath } from "./dom.js";
import { inputLimits } from "./input-limits.js";
import { can } from "./permissions.js";
import { techniqueCounts, techniquePicker } from "./design.js";

/**
 * @typedef {import("./types.js").Draft} Draft
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").Project} Project
 * @typedef {import("./types.js").Story} Story
 * @typedef {import("./types.js").TestCase} TestCase
 */

// --- review: quality summary, criteria × test-case grid, repeats ---------------------------------

/** @param {Partial<Draft>} result */
function coverageGrid(result) {
  const quality = result.quality;
  const cases = result.test_cases || [];
  if (!quality || !quality.criteria.length) return null;
  const reasons = new Map(quality.uncovered.map((u) => [u.index, u.reason]));
  const labelled = Boolean(quality.scenarios_per_technique);
  const head = createElement("tr", {}, createElement("th", {}, translate("drafts.criterion")), ...cases.map((_, i) => createElement("th", { title: cases[i].title }, `#${i + 1}`)),
    labelled ? createElement("th", {}, translate("design.per_technique")) : null);
  const rows = quality.criteria.map((c) =>
    createElement(
      "tr",
      { className: reasons.has(c.index) ? "uncovered" : "", title: reasons.get(c.index) || "" },
      createElement("td", {}, `${c.index + 1}. ${c.criterion}`),
      ...cases.map((_, i) => createElement("td", { className: "cell" }, c.test_cases.includes(i) ? "●" : "")),
      labelled ? createElement("td", { className: "techniques" }, techniqueCounts(c.techniques)) : null,
    ),
  );
  return createElement("table", { id: "coverage-grid", className: "coverage-grid" }, createElement("thead", {}, head), createElement("tbody", {}, rows));
}

/** @param {Partial<Draft>} result */
function qualityLine(result) {
  const quality = result.quality;
  if (!quality) return null;
  const types = [Object.entries(quality.scenarios_per_type).map(([type, count]) => `${type} ${count}`).join(", "),
    techniqueCounts(quality.scenarios_per_technique)].filter(Boolean).join(" · ");
  const duplicates = quality.duplicates;
  return createElement(
    "p",
    { id: "quality-summary", className: "muted" },
    translate("drafts.quality", {
      covered: quality.criteria.length - quality.uncovered.length,
      total: quality.criteria.length,
      types,
      replaced: duplicates.replaced,
      within: duplicates.within_draft,
      saved: duplicates.against_saved,
      calls: quality.llm_calls,
      tokens: quality.tokens,
    }),
  );
}

/**
 * Adds the quality summary, the coverage grid, the uncovered reasons and the repeat flags.
 * @param {Job} job
 * @param {HTMLElement} casesBox
 */
export function decorateReview(job, casesBox) {
  /** @type {Partial<Draft>} */
  const result = job.result || {};
  document.querySelectorAll("#review .drafts-extra").forEach((node) => node.remove());
  const extra = createElement("div", { className: "drafts-extra" }, qualityLine(result), coverageGrid(result));
  const uncovered = (result.quality && result.quality.uncovered) || [];
  if (uncovered.length) {
    extra.append(createElement("ul", { className: "uncovered-list" }, uncovered.map((u) => createElement("li", {}, translate("drafts.uncovered", { number: u.index + 1, reason: u.reason })))));
  }
  const unclear = (result.quality && result.quality.unclear) || [];
  if (unclear.length) {
    extra.append(createElement("ul", { className: "unclear-list" }, unclear.map((u) =>
      createElement("li", {}, translate("drafts.unclear", { number: u.index + 1, questions: u.questions.join(" ") })))));
  }
  casesBox.before(extra);
  for (const dup of result.duplicates || []) {
    const card = casesBox.querySelector(`.case[data-index="${dup.test_case}"]`);
    const scenario = card && card.querySelectorAll(".scenario")[dup.scenario];
    if (!scenario) continue;
    const flag = createElement("div", { className: "repeat-flag" }, dup.message);
    if (dup.saved_test_case_id !== undefined) {
      scenario.classList.add("repeats-saved");
      flag.append(" ", createElement("label", {}, createElement("input", { type: "checkbox", className: "keep-repeat" }), ` ${translate("drafts.keep_repeat")}`));
    }
    scenario.append(flag);
  }
}

/**
 * [test case, scenario] positions, in the cards left, of the repeats the reviewer keeps.
 * @param {HTMLElement} casesBox
 */
export function keptRepeats(casesBox) {
  /** @type {[number, number][]} */
  const keep = [];
  [...casesBox.querySelectorAll(".case")].forEach((card, ci) => {
    [...card.querySelectorAll(".scenario")].forEach((scenario, si) => {
      const box = scenario.querySelector(".keep-repeat");
      if (box instanceof HTMLInputElement && box.checked) keep.push([ci, si]);
    });
  });
  return keep;
}

// --- projects: instructions and usage -----------------------------------------------------------

function dialog() {
  const found = document.getElementById("project-tools");
  if (found instanceof HTMLDialogElement) return found;
  const node = createElement("dialog", { id: "project-tools", className: "wide-dialog" });
  document.body.append(node);
  return node;
}

/** @param {any} usage  GET /projects/{id}/usage (UsageOut) */
function usageChart(usage) {
  const days = usage.per_day;
  const max = Math.max(1, ...days.map((/** @type {any} */ d) => d.tokens));
  const bars = days.map((/** @type {any} */ d) => {
    const bar = createElement("div", { className: "bar", title: translate("drafts.usage_bar", { day: d.day, tokens: d.tokens, calls: d.llm_calls, jobs: d.jobs }) });
    bar.style.height = `${Math.max(2, Math.round((d.tokens / max) * 80))}px`; // CSSOM: allowed by the CSP
    return bar;
  });
  const models = usage.per_model.map((/** @type {any} */ m) => createElement("tr", {}, createElement("td", {}, `${m.provider}/${m.model}`), createElement("td", {}, String(m.jobs)), createElement("td", {}, String(m.llm_calls)), createElement("td", {}, String(m.tokens)), createElement("td", {}, cachedShare(m))));
  const budget = usage.token_budget_daily ? translate("drafts.budget_of", { budget: usage.token_budget_daily }) : translate("drafts.no_budget");
  return createElement(
    "div",
    { id: "usage" },
    createElement("p", { className: "muted" }, translate("drafts.usage_summary", { days: usage.days, spent: usage.spent_today, budget })),
    createElement("div", { className: "usage-chart", role: "img", "aria-label": translate("drafts.tokens_per_day") }, bars.length ? bars : createElement("span", { className: "muted" }, translate("drafts.no_usage"))),
    createElement("table", {}, createElement("thead", {}, createElement("tr", {}, createElement("th", {}, translate("drafts.model")), createElement("th", {}, translate("drafts.jobs")), createElement("th", {}, translate("drafts.calls")), createElement("th", {}, translate("drafts.tokens")), createElement("th", {}, translate("drafts.cached")))), createElement("tbody", {}, models)),
  );
}

/**
 * A model's prompt tokens served from the provider's cache, and their share of its prompt tokens.
 * @param {{cached_tokens: number, prompt_tokens: number}} m  one row of UsageOut.per_model
 */
function cachedShare(m) {
  const share = m.prompt_tokens ? Math.round((100 * m.cached_tokens) / m.prompt_tokens) : 0;
  return translate("drafts.cached_share", { tokens: m.cached_tokens, share });
}

/**
 * The review gate's settings of a project.
 * @param {Project} project
 */
function gateSettings(project) {
  const box = (/** @type {string} */ id, /** @type {boolean | undefined} */ checked, /** @type {string} */ label) =>
    createElement("label", { className: "check" }, createElement("input", { type: "checkbox", id, checked: Boolean(checked) }), label);
  return createElement("fieldset", { className: "gate-settings" },
    createElement("legend", {}, translate("gate.settings")),
    box("review-required", project.review_required, translate("gate.review_required")),
    box("allow-self-approval", project.allow_self_approval, translate("gate.allow_self_approval")));
}

/**
 * @param {Project} project
 * @param {(project: Project) => void} onSaved
 */
async function openProject(project, onSaved) {
  const box = dialog();
  const admin = can(project.id, PROJECT_ROLE.admin);
  const text = createElement("textarea", { id: "instructions-text", rows: 8, ...inputLimits(LIMITS.project.instructions),
    value: project.instructions || "", placeholder: translate("drafts.instructions_placeholder") });
  const budget = createElement("input", { id: "budget-input", type: "number", ...inputLimits(LIMITS.project.token_budget_daily),
    value: project.token_budget_daily || "", placeholder: translate("drafts.no_limit") });
  const status = createElement("span", { role: "status" });
  const save = createElement("button", { type: "button", className: "primary", id: "instructions-save", hidden: !admin }, translate("drafts.save"));
  const gate = gateSettings(project);
  const techniques = techniquePicker("default-techniques", project.default_techniques);
  techniques.element.querySelector("summary")?.replaceChildren(translate("design.default_techniques"));
  for (const field of [text, budget, ...gate.querySelectorAll("input"), ...techniques.element.querySelectorAll("input")]) /** @type {HTMLInputElement} */ (field).disabled = !admin;
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      const { data } = await api("PATCH", `/projects/${project.id}`, {
        instructions: text.value,
        token_budget_daily: budget.value ? Number(budget.value) : null,
        review_required: /** @type {HTMLInputElement} */ (gate.querySelector("#review-required")).checked,
        allow_self_approval: /** @type {HTMLInputElement} */ (gate.querySelector("#allow-self-approval")).checked,
        default_techniques: techniques.value(),
      });
      onSaved(data);
      status.textContent = translate("drafts.saved");
      status.className = "saved-count";
    } catch (err) {
      status.textContent = err.message;
      status.className = "error-text";
    } finally {
      save.disabled = false;
    }
  });
  const close = createElement("button", { type: "button", className: "link", "aria-label": translate("drafts.close"), onclick: () => box.close() }, "✕");
  box.replaceChildren(
    createElement("div", { className: "dialog-head" }, createElement("h2", {}, translate("drafts.tools_title", { project: project.name })), close),
    createElement("label", {}, translate("drafts.instructions_label"), createElement("small", {}, translate("drafts.instructions_hint", { max: LIMITS.project.instructions.max_length ?? "" })), text),
    createElement("label", {}, translate("drafts.budget_label"), budget),
    gate,
    techniques.element,
    createElement("div", { className: "dialog-foot" }, status, createElement("span", { className: "spacer" }), save),
  );
  if (!box.open) box.showModal();
  try {
    const { data } = await api("GET", `/projects/${project.id}/usage`); // the server's default: 30 days
    box.append(usageChart(data));
  } catch (err) {
    box.append(createElement("p", { className: "error-text" }, translate("drafts.usage_unavailable", { error: err.message })));
  }
}

/**
 * The button that opens a project's instructions and usage.
 * @param {Project} project
 * @param {(project: Project) => void} onSaved
 */
export function projectTools(project, onSaved) {
  const button = createElement("button", { type: "button", className: "link project-tools" }, translate("drafts.tools_button"));
  button.addEventListener("click", () => openProject(project, onSaved));
  return button;
}

// --- stories: stale tests -----------------------------------------------------------------------

/**
 * "stale" on a saved test case whose covered criteria changed since it was saved (null otherwise).
 * @param {TestCase} testCase
 */
export function staleTag(testCase) {
  const gone = testCase.stale_criteria || [];
  if (!gone.length) return null;
  return createElement("span", { className: "tag stale-tag", title: translate("drafts.changed_since_saved", { criteria: gone.join("; ") }) }, translate("drafts.stale"));
}

/**
 * A marker filled in when the story's criteria changed since some of its tests were saved.
 * @param {Story} story
 * @param {(() => void) | null} updateTests  its "update tests" button's action (null: no button)
 */
export function staleMarker(story, updateTests) {
  const marker = createElement("span", { className: "stale", hidden: true });
  if ((story.revision || 1) > 1) {
    api("GET", `/user-stories/${encodePath(story.id)}/test-cases?stale=true`)
      .then(({ data }) => {
        if (!data.length) return;
        const button = updateTests
          ? createElement("button", { type: "button", className: "link update-tests", onclick: updateTests }, translate("drafts.update_tests"))
          : null;
        const titles = data.map((/** @type {TestCase} */ c) => `${c.title}: ${(c.stale_criteria ?? []).join("; ")}`).join("\n");
        marker.replaceChildren(createElement("span", { className: "stale-count", title: titles }, translate("drafts.stale_count", { count: data.length })), " ", button ?? "");
        marker.hidden = false;
      })
      .catch(() => {});
  }
  return marker;
}

