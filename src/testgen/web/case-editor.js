// A test case as editable fields (the review dialog and the story view's saved test cases use it),
// and its scenarios as Gherkin text.
import { translate } from "./i18n.js";
import { LIMITS, PRIORITIES, TEST_TYPES } from "./constants.js";
import { createElement } from "./dom.js";
import { inputLimits } from "./input-limits.js";
import { examplesEditor, examplesLines, parametersEditor, parseParameters, readExamples } from "./design.js";

/**
 * @typedef {import("./types.js").Scenario} Scenario
 * @typedef {import("./types.js").TestCase} TestCase
 */

/** @param {Scenario} scenario */
export function stepsText(scenario) {
  /** @type {string[]} */
  const lines = [];
  for (const [keyword, steps] of /** @type {const} */ ([["Given", scenario.given], ["When", scenario.when], ["Then", scenario.then]])) {
    steps.forEach((step, i) => lines.push(`${i === 0 ? keyword : "And"} ${step}`));
  }
  return lines.join("\n");
}

/**
 * "Given …/And …/When …/Then …" lines back into the three step lists.
 * @param {string} text
 */
export function parseSteps(text) {
  /** @type {{ given: string[], when: string[], then: string[] }} */
  const steps = { given: [], when: [], then: [] };
  /** @type {"given" | "when" | "then"} */
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

/**
 * The Gherkin of a test case's scenarios, as the story view shows it.
 * @param {TestCase} testCase
 */
export function gherkinText(testCase) {
  return testCase.scenarios
    .map((scenario) => [`${scenario.examples ? "Scenario Outline" : "Scenario"}: ${scenario.title}`,
      ...stepsText(scenario).split("\n").map((l) => `  ${l}`), ...examplesLines(scenario.examples, "  ")].join("\n"))
    .join("\n\n");
}

/**
 * An editable card; `onDelete(card)` is called by its Delete button.
 * @param {TestCase} testCase
 * @param {number} index
 * @param {{ onDelete?: (card: HTMLElement) => void, deleteLabel?: string }} [options]
 */
export function caseCard(testCase, index, { onDelete, deleteLabel = translate("page.delete") } = {}) {
  const number = `#${index + 1}`;
  /**
   * @param {string[]} options
   * @param {string} value
   * @param {string} className
   * @param {string} label
   */
  const select = (options, value, className, label) =>
    createElement("select", { className, "aria-label": label },
      ...options.map((o) => createElement("option", { value: o, selected: o === value }, o)));
  const card = createElement(
    "div",
    { className: "case", dataset: { index: String(index) } },
    createElement(
      "div",
      { className: "case-head" },
      createElement("span", { className: "num" }, number),
      createElement("input", {
        className: "case-title", value: testCase.title, ...inputLimits(LIMITS.test_case.title), required: true,
        "aria-label": translate("case.title_of", { n: number }),
      }),
      select(PRIORITIES, testCase.priority, "case-priority", translate("case.priority_of", { n: number })),
      select(TEST_TYPES, testCase.test_type, "case-type", translate("case.type_of", { n: number })),
      onDelete
        ? createElement("button", { type: "button", className: "danger small case-delete",
          "aria-label": translate("case.delete_named", { action: deleteLabel, n: number }),
          onclick: () => onDelete(card) }, deleteLabel)
        : null,
    ),
    testCase.description ? createElement("div", { className: "muted" }, testCase.description) : null,
    parametersEditor(testCase.parameters, number),
    ...testCase.scenarios.map((scenario, i) =>
      createElement(
        "div",
        { className: "scenario" },
        createElement("input", {
          className: "scenario-title", value: scenario.title,
          "aria-label": translate("case.scenario_title_of", { s: i + 1, n: number }),
        }),
        createElement("textarea", {
          className: "scenario-steps",
          rows: scenario.given.length + scenario.when.length + scenario.then.length,
          value: stepsText(scenario),
          "aria-label": translate("case.steps_of", { s: i + 1, n: number }),
        }),
        examplesEditor(scenario.examples, translate("design.scenario_of", { s: i + 1, n: number })),
      ),
    ),
  );
  return card;
}

/**
 * A field of a card, by its class.
 * @template {HTMLElement} T
 * @param {Element} root
 * @param {string} className
 * @param {{ new (): T, prototype: T }} type
 * @returns {T}
 */
function part(root, className, type) {
  const found = root.querySelector(`.${className}`);
  if (!(found instanceof type)) throw new Error(`no .${className} in the card`);
  return found;
}

/**
 * The edited test case of a card (`original` fills what the card does not show); throws a message
 * naming the test case and scenario when a field is missing.
 * @param {HTMLElement} card
 * @param {TestCase} original
 * @returns {TestCase}
 */
export function readCard(card, original) {
  const number = Number(card.dataset.index) + 1;
  const title = part(card, "case-title", HTMLInputElement).value.trim();
  if (!title) throw new Error(translate("case.needs_title", { n: number }));
  const scenarios = [...card.querySelectorAll(".scenario")].map((el, i) => {
    const stepsField = part(el, "scenario-steps", HTMLTextAreaElement);
    const steps = parseSteps(stepsField.value);
    const missing = /** @type {const} */ (["given", "when", "then"]).filter((k) => !steps[k].length);
    stepsField.classList.toggle("invalid", missing.length > 0);
    if (missing.length) {
      const names = missing.map((m) => m[0].toUpperCase() + m.slice(1)).join(", ");
      throw new Error(translate("case.missing_step", { n: number, s: i + 1, steps: names }));
    }
    const title = part(el, "scenario-title", HTMLInputElement).value.trim() || original.scenarios[i].title;
    const table = el.querySelector(".examples");
    const examples = table ? readExamples(table) : null;
    /** @type {Scenario} */
    const edited = { ...original.scenarios[i], title, ...steps };
    if (examples) edited.examples = examples;
    else delete edited.examples;
    return edited;
  });
  const parameters = parseParameters(part(card, "parameters-text", HTMLTextAreaElement).value);
  /** @type {TestCase} */
  const edited = {
    ...original,
    title,
    priority: part(card, "case-priority", HTMLSelectElement).value,
    test_type: part(card, "case-type", HTMLSelectElement).value,
    scenarios,
  };
  if (parameters.length) edited.parameters = parameters;
  else delete edited.parameters;
  return edited;
}
