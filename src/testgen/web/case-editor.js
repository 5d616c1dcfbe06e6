// A test case as editable fields (the review dialog and the story view's saved test cases use it),
// and its scenarios as Gherkin text.
import { PRIORITIES, TEST_TYPES } from "./constants.js";
import { $, h } from "./dom.js";

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

/** The Gherkin of a test case's scenarios, as the story view shows it. */
export function gherkinText(testCase) {
  return testCase.scenarios
    .map((scenario) => [`Scenario: ${scenario.title}`, ...stepsText(scenario).split("\n").map((l) => `  ${l}`)].join("\n"))
    .join("\n\n");
}

/** An editable card; `onDelete(card)` is called by its Delete button. */
export function caseCard(testCase, index, { onDelete, deleteLabel = "Delete" } = {}) {
  const number = `#${index + 1}`;
  const select = (options, value, className, label) =>
    h("select", { className, "aria-label": label },
      ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
  const card = h(
    "div",
    { className: "case", dataset: { index: String(index) } },
    h(
      "div",
      { className: "case-head" },
      h("span", { className: "num" }, number),
      h("input", {
        className: "case-title", value: testCase.title, maxLength: 200, required: true,
        "aria-label": `Title of test case ${number}`,
      }),
      select(PRIORITIES, testCase.priority, "case-priority", `Priority of test case ${number}`),
      select(TEST_TYPES, testCase.test_type, "case-type", `Type of test case ${number}`),
      onDelete
        ? h("button", { type: "button", className: "danger small case-delete", "aria-label": `${deleteLabel} test case ${number}`,
          onclick: () => onDelete(card) }, deleteLabel)
        : null,
    ),
    testCase.description ? h("div", { className: "muted" }, testCase.description) : null,
    ...testCase.scenarios.map((scenario, i) =>
      h(
        "div",
        { className: "scenario" },
        h("input", {
          className: "scenario-title", value: scenario.title,
          "aria-label": `Title of scenario ${i + 1} of test case ${number}`,
        }),
        h("textarea", {
          className: "scenario-steps",
          rows: scenario.given.length + scenario.when.length + scenario.then.length,
          value: stepsText(scenario),
          "aria-label": `Steps of scenario ${i + 1} of test case ${number}`,
        }),
      ),
    ),
  );
  return card;
}

/** The edited test case of a card (`original` fills what the card does not show); throws a message
 * naming the test case and scenario when a field is missing. */
export function readCard(card, original) {
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
  return {
    ...original,
    title,
    priority: $(".case-priority", card).value,
    test_type: $(".case-type", card).value,
    scenarios,
  };
}
