// A saved test case in the story view: its title, type, priority and scenarios as Gherkin; Edit turns
// it into fields (PATCH /test-cases/{id}), Delete removes it after a confirmation.
import { t } from "./i18n.js";
import { api } from "./api.js";
import { caseCard, gherkinText, readCard } from "./case-editor.js";
import { confirmDelete } from "./confirm.js";
import { h } from "./dom.js";
import { staleTag } from "./drafts.js";
import { toast } from "./toasts.js";

/** `changed()` is called after the test case was edited or deleted (the list is then read again). */
export function savedCaseCard(testCase, index, changed) {
  const card = h("article", { className: "saved-case", dataset: { caseId: String(testCase.id) } });
  const show = () => {
    card.replaceChildren(
      h(
        "div",
        { className: "saved-head" },
        h("h4", { className: "saved-title" }, `#${index + 1} ${testCase.title}`),
        h("span", { className: "tag saved-type" }, testCase.test_type),
        h("span", { className: "tag saved-priority" }, testCase.priority),
        staleTag(testCase),
        h("span", { className: "spacer" }),
        h("button", { type: "button", className: "link saved-edit", "aria-label": t("saved.edit_named", { n: index + 1 }),
          onclick: edit }, t("saved.edit")),
        h("button", { type: "button", className: "link danger saved-delete",
          "aria-label": t("saved.delete_named", { n: index + 1 }), onclick: remove }, t("page.delete")),
      ),
      testCase.description ? h("p", { className: "muted" }, testCase.description) : "", // replaceChildren prints null
      h("pre", { className: "gherkin", tabIndex: 0, "aria-label": t("saved.scenarios_of", { n: index + 1 }) }, gherkinText(testCase)),
    );
  };
  const edit = () => {
    const editor = caseCard(testCase, index);
    const error = h("span", { className: "error-text", role: "alert" });
    const save = h("button", { type: "button", className: "primary saved-save" }, t("saved.save"));
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
        toast(t("saved.saved", { n: index + 1 }), "success");
        changed();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    card.replaceChildren(
      editor,
      h("div", { className: "actions" }, save, h("button", { type: "button", onclick: show }, t("story.cancel")), error),
    );
    editor.querySelector(".case-title").focus();
  };
  const remove = async () => {
    const ok = await confirmDelete(
      t("saved.delete_title"),
      t("saved.delete_text", { n: index + 1, title: testCase.title, count: testCase.scenarios.length }),
    );
    if (!ok) return;
    try {
      await api("DELETE", `/test-cases/${testCase.id}`);
      toast(t("saved.deleted", { title: testCase.title }), "success");
      changed();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  show();
  return card;
}
