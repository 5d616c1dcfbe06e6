// Better drafts on the page (issue 19): the review dialog's coverage grid and "repeats saved test …"
// flags, each project's instructions and usage chart, and a story's stale tests.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { enc, h as el } from "./dom.js";

const MAX_INSTRUCTIONS = 4000;

// --- review: quality summary, criteria × test-case grid, repeats ---------------------------------

function coverageGrid(result) {
  const quality = result.quality;
  const cases = result.test_cases || [];
  if (!quality || !quality.criteria.length) return null;
  const reasons = new Map(quality.uncovered.map((u) => [u.index, u.reason]));
  const head = el("tr", {}, el("th", {}, t("drafts.criterion")), ...cases.map((_, i) => el("th", { title: cases[i].title }, `#${i + 1}`)));
  const rows = quality.criteria.map((c) =>
    el(
      "tr",
      { className: reasons.has(c.index) ? "uncovered" : "", title: reasons.get(c.index) || "" },
      el("td", {}, `${c.index + 1}. ${c.criterion}`),
      ...cases.map((_, i) => el("td", { className: "cell" }, c.test_cases.includes(i) ? "●" : "")),
    ),
  );
  return el("table", { id: "coverage-grid", className: "coverage-grid" }, el("thead", {}, head), el("tbody", {}, rows));
}

function qualityLine(result) {
  const q = result.quality;
  if (!q) return null;
  const types = Object.entries(q.scenarios_per_type).map(([t, n]) => `${t} ${n}`).join(", ");
  const d = q.duplicates;
  return el(
    "p",
    { id: "quality-summary", className: "muted" },
    t("drafts.quality", {
      covered: q.criteria.length - q.uncovered.length,
      total: q.criteria.length,
      types,
      replaced: d.replaced,
      within: d.within_draft,
      saved: d.against_saved,
      calls: q.llm_calls,
      tokens: q.tokens,
    }),
  );
}

/** Adds the quality summary, the coverage grid, the uncovered reasons and the repeat flags. */
export function decorateReview(job, casesBox) {
  const result = job.result || {};
  document.querySelectorAll("#review .drafts-extra").forEach((node) => node.remove());
  const extra = el("div", { className: "drafts-extra" }, qualityLine(result), coverageGrid(result));
  const uncovered = (result.quality && result.quality.uncovered) || [];
  if (uncovered.length) {
    extra.append(el("ul", { className: "uncovered-list" }, uncovered.map((u) => el("li", {}, t("drafts.uncovered", { number: u.index + 1, reason: u.reason })))));
  }
  casesBox.before(extra);
  for (const dup of result.duplicates || []) {
    const card = casesBox.querySelector(`.case[data-index="${dup.test_case}"]`);
    const scenario = card && card.querySelectorAll(".scenario")[dup.scenario];
    if (!scenario) continue;
    const flag = el("div", { className: "repeat-flag" }, dup.message);
    if (dup.saved_test_case_id !== undefined) {
      scenario.classList.add("repeats-saved");
      flag.append(" ", el("label", {}, el("input", { type: "checkbox", className: "keep-repeat" }), ` ${t("drafts.keep_repeat")}`));
    }
    scenario.append(flag);
  }
}

/** [test case, scenario] positions, in the cards left, of the repeats the reviewer keeps. */
export function keptRepeats(casesBox) {
  const keep = [];
  [...casesBox.querySelectorAll(".case")].forEach((card, ci) => {
    [...card.querySelectorAll(".scenario")].forEach((scenario, si) => {
      const box = scenario.querySelector(".keep-repeat");
      if (box && box.checked) keep.push([ci, si]);
    });
  });
  return keep;
}

// --- projects: instructions and usage -----------------------------------------------------------

function dialog() {
  let node = document.getElementById("project-tools");
  if (!node) {
    node = el("dialog", { id: "project-tools", className: "wide-dialog" });
    document.body.append(node);
  }
  return node;
}

function usageChart(usage) {
  const days = usage.per_day;
  const max = Math.max(1, ...days.map((d) => d.tokens));
  const bars = days.map((d) => {
    const bar = el("div", { className: "bar", title: t("drafts.usage_bar", { day: d.day, tokens: d.tokens, calls: d.llm_calls, jobs: d.jobs }) });
    bar.style.height = `${Math.max(2, Math.round((d.tokens / max) * 80))}px`; // CSSOM: allowed by the CSP
    return bar;
  });
  const models = usage.per_model.map((m) => el("tr", {}, el("td", {}, `${m.provider}/${m.model}`), el("td", {}, String(m.jobs)), el("td", {}, String(m.llm_calls)), el("td", {}, String(m.tokens))));
  const budget = usage.token_budget_daily ? t("drafts.budget_of", { budget: usage.token_budget_daily }) : t("drafts.no_budget");
  return el(
    "div",
    { id: "usage" },
    el("p", { className: "muted" }, t("drafts.usage_summary", { days: usage.days, spent: usage.spent_today, budget })),
    el("div", { className: "usage-chart", role: "img", "aria-label": t("drafts.tokens_per_day") }, bars.length ? bars : el("span", { className: "muted" }, t("drafts.no_usage"))),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, t("drafts.model")), el("th", {}, t("drafts.jobs")), el("th", {}, t("drafts.calls")), el("th", {}, t("drafts.tokens")))), el("tbody", {}, models)),
  );
}

async function openProject(project, onSaved) {
  const box = dialog();
  const text = el("textarea", { id: "instructions-text", rows: 8, maxLength: MAX_INSTRUCTIONS, value: project.instructions || "", placeholder: t("drafts.instructions_placeholder") });
  const budget = el("input", { id: "budget-input", type: "number", min: 1, value: project.token_budget_daily || "", placeholder: t("drafts.no_limit") });
  const status = el("span", { role: "status" });
  const save = el("button", { type: "button", className: "primary", id: "instructions-save" }, t("drafts.save"));
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      const { data } = await api("PATCH", `/projects/${project.id}`, {
        instructions: text.value,
        token_budget_daily: budget.value ? Number(budget.value) : null,
      });
      onSaved(data);
      status.textContent = t("drafts.saved");
      status.className = "saved-count";
    } catch (err) {
      status.textContent = err.message;
      status.className = "error-text";
    } finally {
      save.disabled = false;
    }
  });
  const close = el("button", { type: "button", className: "link", "aria-label": t("drafts.close"), onclick: () => box.close() }, "✕");
  box.replaceChildren(
    el("div", { className: "dialog-head" }, el("h2", {}, t("drafts.tools_title", { project: project.name })), close),
    el("label", {}, t("drafts.instructions_label"), el("small", {}, t("drafts.instructions_hint", { max: MAX_INSTRUCTIONS })), text),
    el("label", {}, t("drafts.budget_label"), budget),
    el("div", { className: "dialog-foot" }, status, el("span", { className: "spacer" }), save),
  );
  if (!box.open) box.showModal();
  try {
    const { data } = await api("GET", `/projects/${project.id}/usage?days=30`);
    box.append(usageChart(data));
  } catch (err) {
    box.append(el("p", { className: "error-text" }, t("drafts.usage_unavailable", { error: err.message })));
  }
}

export function projectTools(project, onSaved) {
  const button = el("button", { type: "button", className: "link project-tools" }, t("drafts.tools_button"));
  button.addEventListener("click", () => openProject(project, onSaved));
  return button;
}

// --- stories: stale tests -----------------------------------------------------------------------

/** "stale" on a saved test case whose covered criteria changed since it was saved (null otherwise). */
export function staleTag(testCase) {
  const gone = testCase.stale_criteria || [];
  if (!gone.length) return null;
  return el("span", { className: "tag stale-tag", title: t("drafts.changed_since_saved", { criteria: gone.join("; ") }) }, t("drafts.stale"));
}

/** A marker filled in when the story's criteria changed since some of its tests were saved. */
export function staleMarker(story, updateTests) {
  const marker = el("span", { className: "stale", hidden: true });
  if ((story.revision || 1) > 1) {
    api("GET", `/user-stories/${enc(story.id)}/test-cases?stale=true`)
      .then(({ data }) => {
        if (!data.length) return;
        const button = el("button", { type: "button", className: "link update-tests" }, t("drafts.update_tests"));
        button.addEventListener("click", updateTests);
        const titles = data.map((c) => `${c.title}: ${c.stale_criteria.join("; ")}`).join("\n");
        marker.replaceChildren(el("span", { className: "stale-count", title: titles }, t("drafts.stale_count", { count: data.length })), " ", button);
        marker.hidden = false;
      })
      .catch(() => {});
  }
  return marker;
}

