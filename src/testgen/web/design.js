// Test design on the page: the test-design techniques a job or a project names (a list of
// checkboxes), and each criterion's scenarios per technique in the review dialog's coverage grid.
import { api, streamUrl } from "./api.js";
import { translate } from "./i18n.js";
import { EVENT_NAMES, LIMITS, ROLE_STATUS, TECHNIQUES, TERMINAL } from "./constants.js";
import { createElement, encodePath } from "./dom.js";
import { inputLimits } from "./input-limits.js";

/**
 * A technique's name in the page's language.
 * @param {string} technique
 */
export function techniqueName(technique) {
  return translate(`technique.${technique}`);
}

/**
 * Checkboxes for the techniques, in the server's order, `chosen` ticked. They are made when the
 * picker is first opened: a page of stories has one picker a row, mostly never opened, and their
 * checkboxes would double what the browser styles and lays out as the rows arrive.
 * @param {string} id  the fieldset's id
 * @param {string[] | null | undefined} chosen
 * @returns {{ element: HTMLElement, value: () => string[] }}
 */
export function techniquePicker(id, chosen) {
  const ticked = new Set(chosen || []);
  /** @type {HTMLInputElement[]} */
  let boxes = [];
  const element = createElement(
    "details",
    { id, className: "technique-picker" },
    createElement("summary", {}, translate("design.techniques")),
  );
  element.addEventListener("toggle", () => {
    if (boxes.length) return;
    boxes = TECHNIQUES.map((/** @type {string} */ technique) =>
      createElement("input", { type: "checkbox", value: technique, checked: ticked.has(technique), dataset: { technique } }));
    element.append(
      createElement("p", { className: "muted" }, translate("design.techniques_hint")),
      ...boxes.map((box) => createElement("label", { className: "check" }, box, techniqueName(box.value))),
    );
  });
  const value = () => (boxes.length
    ? boxes.filter((box) => box.checked).map((box) => box.value)
    : TECHNIQUES.filter((/** @type {string} */ technique) => ticked.has(technique)));
  return { element, value };
}

/**
 * A criterion's scenarios per technique ("boundary values 3 · error guessing 2"), or "".
 * @param {Object<string, number> | undefined} counts
 */
export function techniqueCounts(counts) {
  return Object.entries(counts || {}).map(([technique, count]) => `${techniqueName(technique)} ${count}`).join(" · ");
}

/**
 * @typedef {{ header: string[], rows: string[][] }} Examples
 */

/**
 * A cell input of an Examples table (a column's name or a row's value).
 * @param {string} value
 * @param {string} className
 * @param {string} label
 */
function cellInput(value, className, label) {
  const bounds = className === "examples-column" ? LIMITS.test_case.examples_column : LIMITS.test_case.examples_cell;
  return createElement("input", { className, value, ...inputLimits(bounds), "aria-label": label });
}

/**
 * An editable Examples table (a Scenario Outline's): its columns and rows as inputs, with buttons to
 * add and remove rows and columns; a plain scenario gets an "Add examples" button that starts one.
 * @param {Examples | null | undefined} examples
 * @param {string} label  names the scenario in the inputs' labels ("scenario 2 of #1")
 */
export function examplesEditor(examples, label) {
  const box = createElement("div", { className: "examples" });
  /** @param {Examples | null} table */
  const render = (table) => {
    if (!table || !table.header.length) {
      box.replaceChildren(createElement("button", { type: "button", className: "link examples-add",
        onclick: () => render({ header: ["value"], rows: [[""]] }) }, translate("design.add_examples")), " ", pairwiseButton(box, render));
      return;
    }
    const current = () => readExamples(box) || { header: [], rows: [] };
    const head = createElement("tr", {},
      table.header.map((name, c) => createElement("th", {},
        cellInput(name, "examples-column", translate("design.column_of", { c: c + 1, s: label })),
        createElement("button", { type: "button", className: "link small examples-drop-column",
          "aria-label": translate("design.remove_column", { c: c + 1, s: label }),
          onclick: () => { const t = current(); t.header.splice(c, 1); t.rows.forEach((r) => r.splice(c, 1)); render(t); } }, "×"))),
      createElement("th", {}, createElement("button", { type: "button", className: "link small examples-add-column",
        onclick: () => { const t = current(); t.header.push(`column${t.header.length + 1}`); t.rows.forEach((r) => r.push("")); render(t); } },
      translate("design.add_column"))));
    const rows = table.rows.map((row, r) => createElement("tr", { className: "examples-row" },
      row.map((cell, c) => createElement("td", {}, cellInput(cell, "examples-cell", translate("design.cell_of", { r: r + 1, c: c + 1, s: label })))),
      createElement("td", {}, createElement("button", { type: "button", className: "link small examples-drop-row",
        "aria-label": translate("design.remove_row", { r: r + 1, s: label }),
        onclick: () => { const t = current(); t.rows.splice(r, 1); render(t); } }, "×"))));
    box.replaceChildren(
      createElement("div", { className: "muted" }, translate("design.examples_hint"), " ", pairwiseButton(box, render)),
      createElement("table", { className: "examples-table" }, createElement("thead", {}, head), createElement("tbody", {}, rows)),
      createElement("button", { type: "button", className: "link examples-add-row",
        onclick: () => { const t = current(); t.rows.push(t.header.map(() => "")); render(t); } }, translate("design.add_row")),
    );
  };
  render(examples || null);
  return box;
}

/**
 * The table an examples editor holds, or null when it has no column (a plain scenario).
 * @param {Element} box
 * @returns {Examples | null}
 */
export function readExamples(box) {
  const header = [...box.querySelectorAll(".examples-column")].map((input) => /** @type {HTMLInputElement} */ (input).value.trim());
  if (!header.length) return null;
  const rows = [...box.querySelectorAll(".examples-row")].map((row) =>
    [...row.querySelectorAll(".examples-cell")].map((input) => /** @type {HTMLInputElement} */ (input).value));
  return { header, rows };
}

/**
 * An outline's Examples as Gherkin lines (indented by `indent`), or [] for a plain scenario.
 * @param {Examples | null | undefined} examples
 * @param {string} indent
 */
export function examplesLines(examples, indent) {
  if (!examples) return [];
  const cell = (/** @type {string} */ text) => text.replaceAll("\\", "\\\\").replaceAll("|", "\\|");
  return ["", `${indent}Examples:`, ...[examples.header, ...examples.rows].map((row) => `${indent}  | ${row.map(cell).join(" | ")} |`)];
}

/**
 * "name: value, value, …" lines into parameters (a line without a colon or values is left out).
 * @param {string} text
 * @returns {{ name: string, values: string[] }[]}
 */
export function parseParameters(text) {
  return text.split("\n").map((line) => {
    const at = line.indexOf(":");
    if (at < 1) return null;
    const values = line.slice(at + 1).split(",").map((v) => v.trim()).filter(Boolean);
    return values.length ? { name: line.slice(0, at).trim(), values } : null;
  }).filter((p) => p !== null);
}

/**
 * A test case's parameters as editable "name: value, value" lines (pairwise combines them).
 * @param {{ name: string, values: string[] }[] | null | undefined} parameters
 * @param {string} label
 */
export function parametersEditor(parameters, label) {
  const text = createElement("textarea", {
    className: "parameters-text", rows: Math.max(2, (parameters || []).length),
    value: (parameters || []).map((p) => `${p.name}: ${p.values.join(", ")}`).join("\n"),
    placeholder: translate("design.parameters_placeholder"), "aria-label": translate("design.parameters_of", { n: label }),
  });
  return createElement("label", { className: "parameters" }, translate("design.parameters"), text);
}

/**
 * The button that fills an Examples editor with the pairwise rows of its test case's parameters.
 * @param {HTMLElement} box
 * @param {(table: Examples) => void} render
 */
function pairwiseButton(box, render) {
  const status = createElement("span", { className: "muted pairwise-summary", role: "status" });
  const button = createElement("button", { type: "button", className: "link examples-pairwise" }, translate("design.pairwise_from_parameters"));
  button.addEventListener("click", async () => {
    const field = box.closest(".case")?.querySelector(".parameters-text");
    const parameters = field instanceof HTMLTextAreaElement ? parseParameters(field.value) : [];
    if (!parameters.length) {
      status.textContent = translate("design.no_parameters");
      return;
    }
    try {
      const { data } = await api("POST", "/test-design/pairwise", { parameters });
      render({ header: data.header, rows: data.rows });
      box.append(createElement("div", { className: "muted pairwise-summary", role: "status" }, data.summary));
    } catch (err) {
      status.textContent = err.message;
    }
  });
  return createElement("span", {}, button, " ", status);
}

/**
 * A list of a check's findings, each naming its criterion and asking its question.
 * @param {any[]} findings
 */
function findingList(findings) {
  return createElement("ul", { className: "check-findings" }, findings.map((f) =>
    createElement("li", { dataset: { kind: f.kind, criterion: f.criterion === null ? "" : String(f.criterion) } },
      f.criterion === null ? "" : createElement("strong", {}, translate("design.check_criterion", { n: f.criterion + 1 })), " ",
      f.question)));
}

/**
 * "Ask the model": the deep check as a job (POST …/check?deep=true), its progress, then the model's
 * further questions under the findings.
 * @param {string} storyId
 */
function deepCheck(storyId) {
  const status = createElement("span", { className: "muted", role: "status" });
  const button = createElement("button", { type: "button", className: "secondary deep-check" }, translate("design.check_deep"));
  const wrap = createElement("div", { className: "deep-check-box" }, button, " ", status);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "";
    try {
      const { data } = await api("POST", `/user-stories/${encodePath(storyId)}/check?deep=true`);
      const final = await followJob(data.deep, status);
      if (final.status !== ROLE_STATUS.ready) {
        status.textContent = final.error ? final.error.message : final.message;
        return;
      }
      const { data: job } = await api("GET", data.deep.status_url);
      const questions = job.result.questions;
      status.textContent = translate("design.check_deep_done", { count: questions.length });
      if (questions.length) wrap.append(findingList(questions));
    } catch (err) {
      status.textContent = /** @type {Error} */ (err).message;
    } finally {
      button.disabled = false;
    }
  });
  return wrap;
}

/**
 * The check of a story before generating (POST /user-stories/{id}/check): its findings, each naming
 * its criterion and asking the author a question; filled in once the check answers. An editor may
 * also ask the model for further questions.
 * @param {string} storyId
 * @param {boolean} editor
 */
export function storyCheck(storyId, editor) {
  const box = createElement("div", { id: "story-check", className: "story-check", "aria-live": "polite" });
  api("POST", `/user-stories/${encodePath(storyId)}/check`)
    .then(({ data }) => {
      const deep = editor ? deepCheck(storyId) : "";
      if (!data.findings.length) {
        box.replaceChildren(createElement("p", { className: "muted" }, translate("design.check_clear")), deep);
        return;
      }
      box.replaceChildren(
        createElement("h3", {}, translate("design.check_title", { count: data.unclear_criteria.length })),
        findingList(data.findings),
        createElement("p", { className: "muted" }, translate("design.check_hint")),
        deep,
      );
    })
    .catch((err) => box.replaceChildren(createElement("p", { className: "error-text" }, err.message)));
  return box;
}

/**
 * Follow a job on its event stream until it ends, showing its progress in `status`; resolves with
 * its last state. Should the stream be refused or the job end before it opens, its state is asked
 * once.
 * @param {{ task_id: string, events_url: string, status_url: string }} queued
 * @param {HTMLElement} status
 * @returns {Promise<any>}
 */
async function followJob(queued, status) {
  const es = new EventSource(await streamUrl(queued.events_url, new URLSearchParams()));
  return new Promise((resolve, reject) => {
    let ended = false;
    /** @param {any} snapshot */
    const news = (snapshot) => {
      if (ended) return;
      status.textContent = translate("design.refine_progress", { progress: snapshot.progress, message: snapshot.message });
      if (!TERMINAL.has(snapshot.status)) return;
      ended = true;
      es.close();
      resolve(snapshot);
    };
    for (const name of EVENT_NAMES) es.addEventListener(name, (e) => news(JSON.parse(/** @type {MessageEvent} */ (e).data)));
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED || ended) return;
      api("GET", queued.status_url).then(({ data }) => news(data)).catch(reject);
    };
  });
}

/**
 * The review dialog's refinement: an instruction for the model, "Regenerate" on each test case (with
 * the instruction), and "Add test cases" (that many more, none repeating the draft); each runs as a
 * job whose progress shows, then `onDone()` shows the draft again.
 * @param {string} taskId  the draft's job
 * @param {HTMLElement} casesBox  the dialog's test cases
 * @param {() => void} onDone
 */
export function refineBar(taskId, casesBox, onDone) {
  const instruction = createElement("input", { id: "refine-instruction", ...inputLimits(LIMITS.refine.instruction),
    placeholder: translate("design.instruction_placeholder"), "aria-label": translate("design.instruction") });
  const count = createElement("input", { id: "extend-count", type: "number", ...inputLimits(LIMITS.refine.num_test_cases), value: LIMITS.refine.num_test_cases.minimum,
    "aria-label": translate("design.extend_count") });
  const status = createElement("span", { id: "refine-status", role: "status", className: "muted" });
  /** @type {HTMLButtonElement[]} */
  const buttons = [];
  /**
   * @param {string} path
   * @param {Object<string, any>} body
   */
  const run = async (path, body) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const { data } = await api("POST", path, body);
      const final = await followJob(data, status);
      if (final.status === ROLE_STATUS.ready) onDone();
      else status.textContent = translate("design.refine_failed", { error: final.error ? final.error.message : final.status });
    } catch (err) {
      status.textContent = err.message;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const extend = createElement("button", { type: "button", id: "extend-draft" }, translate("design.extend"));
  extend.addEventListener("click", () => {
    if (!count.reportValidity()) return;
    run(`/generate-test-cases/${encodePath(taskId)}/extend`, { num_test_cases: Number(count.value), instruction: instruction.value });
  });
  buttons.push(extend);
  for (const card of casesBox.querySelectorAll(".case")) {
    const index = Number(/** @type {HTMLElement} */ (card).dataset.index);
    const again = createElement("button", { type: "button", className: "small case-regenerate",
      "aria-label": translate("design.regenerate_of", { n: index + 1 }) }, translate("design.regenerate"));
    again.addEventListener("click", () =>
      run(`/generate-test-cases/${encodePath(taskId)}/test-cases/${index}/regenerate`, { instruction: instruction.value }));
    card.querySelector(".case-head")?.append(again);
    buttons.push(again);
  }
  return createElement("div", { className: "refine-bar actions" },
    createElement("label", {}, translate("design.instruction"), " ", instruction),
    createElement("label", {}, translate("design.extend_count"), " ", count), extend, status);
}
