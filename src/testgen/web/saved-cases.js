// A saved test case in the story view: its title, type, priority and scenarios as Gherkin, and who
// approved it; for editors, Edit turns it into fields (PATCH /test-cases/{id}), Delete removes it after
// a confirmation.
import { translate } from "./i18n.js";
import { api } from "./api.js";
import { caseCard, gherkinText, readCard } from "./case-editor.js";
import { confirmDelete } from "./confirm.js";
import { day } from "./dialogs.js";
import { createElement } from "./dom.js";
import { staleTag } from "./drafts.js";
import { toast } from "./toasts.js";

/**
 * "Approved by <name> on <date>" when its draft was approved; the name arrives with `names`.
 * @param {import("./types.js").TestCase} testCase
 * @param {Promise<Map<number, string>>} names  the project's members' names by user id
 */
function approval(testCase, names) {
  const by = testCase.approved_by;
  if (by === null || by === undefined) return "";
  const line = createElement("p", { className: "muted approved-by" });
  /** @param {string} name */
  const write = (name) => (line.textContent = translate("gate.approved_by", { name, date: day(testCase.approved_at) }));
  write(translate("gate.user_number", { id: by }));
  names.then((known) => {
    const name = known.get(by);
    if (name) write(name);
  });
  return line;
}

/**
 * `changed()` is called after the test case was edited or deleted (the list is then read again).
 * @param {import("./types.js").TestCase} testCase  a saved one (it has an id)
 * @param {number} index
 * @param {() => void} changed
 * @param {{ editable: boolean, names: Promise<Map<number, string>> }} how  editable: the caller is an editor
 */
export function savedCaseCard(testCase, index, changed, { editable, names }) {
  const card = createElement("article", { className: "saved-case", dataset: { caseId: String(testCase.id) } });
  const show = () => {
    card.replaceChildren(
      createElement(
        "div",
        { className: "saved-head" },
        createElement("h4", { className: "saved-title" }, `#${index + 1} ${testCase.title}`),
        createElement("span", { className: "tag saved-type" }, testCase.test_type),
        createElement("span", { className: "tag saved-priority" }, testCase.priority),
        staleTag(testCase),
        createElement("span", { className: "spacer" }),
        editable ? createElement("button", { type: "button", className: "link saved-edit", "aria-label": translate("saved.edit_named", { n: index + 1 }),
          onclick: edit }, translate("saved.edit")) : null,
        editable ? createElement("button", { type: "button", className: "link danger saved-delete",
          "aria-label": translate("saved.delete_named", { n: index + 1 }), onclick: remove }, translate("page.delete")) : null,
      ),
      testCase.description ? createElement("p", { className: "muted" }, testCase.description) : "", // replaceChildren prints null
      approval(testCase, names),
      createElement("pre", { className: "gherkin", tabIndex: 0, "aria-label": translate("saved.scenarios_of", { n: index + 1 }) }, gherkinText(testCase)),
    );
  };
  const edit = () => {
    const editor = caseCard(testCase, index);
    const error = createElement("span", { className: "error-text", role: "alert" });
    const save = createElement("button", { type: "button", className: "primary saved-save" }, translate("saved.save"));
    save.addEventListener("click", async () => {
      let edited;
      try {
        edited = readCard(editor, testCase);
      } catch (err) {
        error.textContent = err.message;
        return;
      }
      try {
        await api("PATCH", `/test-cases/${testCase.id}`, {
          title: edited.title,
          priority: edited.priority,
          test_type: edited.test_type,
          scenarios: edited.scenarios,
        });
        toast(translate("saved.saved", { n: index + 1 }), "success");
        changed();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    card.replaceChildren(
      editor,
      createElement("div", { className: "actions" }, save, createElement("button", { type: "button", onclick: show }, translate("story.cancel")), error),
    );
    /** @type {HTMLElement | null} */ (editor.querySelector(".case-title"))?.focus();
  };
  const remove = async () => {
    const ok = await confirmDelete(
      translate("saved.delete_title"),
      translate("saved.delete_text", { n: index + 1, title: testCase.title, count: testCase.scenarios.length }),
    );
    if (!ok) return;
    try {
      await api("DELETE", `/test-cases/${testCase.id}`);
      toast(translate("saved.deleted", { title: testCase.title }), "success");
      changed();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  show();
  return card;
}
