// Test design on the page: the test-design techniques a job or a project names (a list of
// checkboxes), and each criterion's scenarios per technique in the review dialog's coverage grid.
import { translate } from "./i18n.js";
import { TECHNIQUES } from "./constants.js";
import { createElement } from "./dom.js";

/**
 * A technique's name in the page's language.
 * @param {string} technique
 */
export function techniqueName(technique) {
  return translate(`technique.${technique}`);
}

/**
 * Checkboxes for the techniques, in the server's order, `chosen` ticked.
 * @param {string} id  the fieldset's id
 * @param {string[] | null | undefined} chosen
 * @returns {{ element: HTMLElement, value: () => string[] }}
 */
export function techniquePicker(id, chosen) {
  const ticked = new Set(chosen || []);
  const boxes = TECHNIQUES.map((/** @type {string} */ technique) =>
    createElement("input", { type: "checkbox", value: technique, checked: ticked.has(technique), dataset: { technique } }));
  const element = createElement(
    "details",
    { id, className: "technique-picker" },
    createElement("summary", {}, translate("design.techniques")),
    createElement("p", { className: "muted" }, translate("design.techniques_hint")),
    boxes.map((box) => createElement("label", { className: "check" }, box, techniqueName(box.value))),
  );
  return { element, value: () => boxes.filter((box) => box.checked).map((box) => box.value) };
}

/**
 * A criterion's scenarios per technique ("boundary values 3 · error guessing 2"), or "".
 * @param {Object<string, number> | undefined} counts
 */
export function techniqueCounts(counts) {
  return Object.entries(counts || {}).map(([technique, count]) => `${techniqueName(technique)} ${count}`).join(" · ");
}
