// The story view (?story=ID): the story's description and criteria, its job's badge, its saved test
// cases (rendered as Gherkin, each editable and deletable) and its export; edit or delete the story.
import { api } from "./api.js";
import { confirmDelete } from "./confirm.js";
import { PRIORITIES } from "./constants.js";
import { $, enc, field, h } from "./dom.js";
import { exportFile, formatSelect } from "./exports.js";
import { loadStories } from "./load.js";
import { savedCaseCard } from "./saved-cases.js";
import { generateControls, renderStatus } from "./stories.js";
import { state } from "./state.js";
import { scheduleStream, stream } from "./stream.js";
import { t } from "./i18n.js";
import { toast } from "./toasts.js";
import { navigate } from "./route.js";

const LIST_PARTS = ["#add-story", "#projects-card", "#stories-card"];
let viewTicket = 0;

/** Show the story the URL names, or the list when it names none. */
export async function showRoute(route) {
  const view = $("#story-view");
  const listWasShown = view.hidden;
  if (!route.story) {
    state.view = null;
    view.hidden = true;
    view.replaceChildren();
    for (const part of LIST_PARTS) $(part).hidden = false;
    if (!listWasShown) $("#stories-heading").focus();
    return;
  }
  const ticket = ++viewTicket;
  let story;
  let cases;
  try {
    [{ data: story }, { data: cases }] = await Promise.all([
      api("GET", `/user-stories/${enc(route.story)}`),
      api("GET", `/user-stories/${enc(route.story)}/test-cases`),
    ]);
  } catch (err) {
    if (ticket !== viewTicket) return;
    toast(err.status === 404 ? t("story.not_found", { id: route.story }) : err.message, "error", 8000);
    navigate({ story: "" }, { replace: true });
    return;
  }
  if (ticket !== viewTicket) return; // another story was chosen meanwhile
  for (const part of LIST_PARTS) $(part).hidden = true;
  view.hidden = false;
  renderStoryView(story, cases);
  $("#story-view-title").focus();
  followStory(story.id);
}

/** The saved test cases again (after a save in the review dialog, an edit or a deletion). */
export async function refreshStoryView(storyId) {
  if (!state.view || state.view.storyId !== storyId) return;
  try {
    const { data: cases } = await api("GET", `/user-stories/${enc(storyId)}/test-cases`);
    if (state.view && state.view.storyId === storyId) renderSavedCases(cases);
  } catch (err) {
    toast(err.message, "error");
  }
}

function followStory(storyId) {
  if (state.storyTask.has(storyId)) return;
  stream.pendingStories.add(storyId);
  scheduleStream(0);
}

/** The language the story's tests are written in, and where it comes from (core/languages.py's order). */
function languageOf(story, project) {
  if (story.language) return story.language;
  if (project && project.language) return t("story.language_of_project", { language: project.language });
  if (story.detected_language && story.detected_language !== "und") {
    return t("story.language_detected", { language: story.detected_language });
  }
  return t("story.language_default", { language: "en" });
}

function renderStoryView(story, cases) {
  const project = state.projects.get(story.project_id);
  const status = h("span", { className: "status" });
  const { controls, button } = generateControls(story.id);
  state.view = { storyId: story.id, story, parts: { status, generate: button } };
  const back = h("a", { href: "?", className: "back" }, t("story.all_stories"));
  back.addEventListener("click", (event) => {
    event.preventDefault();
    navigate({ story: "" });
  });
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const format = formatSelect("view-export-format", t("story.export_format_for", { id: story.id }));
  const exportButton = h("button", { type: "button", className: "view-export" }, t("page.export"));
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${enc(story.id)}/test-cases/export`, format.value, story.id),
  );
  $("#story-view").replaceChildren(
    h("div", { className: "section-head" }, back),
    h("h2", { id: "story-view-title", tabIndex: -1 }, `${story.id}: ${story.title}`),
    h(
      "p",
      { className: "muted story-meta" },
      t("story.meta", { project: project ? project.name : "—", priority: t(`priority.${story.priority}`) }),
      " · ",
      h("span", { className: "story-language" }, t("story.language_meta", { language: languageOf(story, project) })),
      jira ? [" · ", h("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer" }, t("story.open_in_jira"))] : null,
    ),
    h("div", { className: "story-body" },
      h("p", { className: "story-description" }, story.description || t("story.no_description")),
      h("h3", {}, t("page.acceptance_criteria")),
      h("ol", { className: "story-criteria" }, story.acceptance_criteria.map((c) => h("li", {}, c))),
    ),
    h(
      "div",
      { className: "actions view-actions" },
      h("span", { className: "generate" }, ...controls),
      status,
      h("span", { className: "spacer" }),
      h("button", { type: "button", className: "edit-story", onclick: () => editStory(story) }, t("story.edit")),
      h("button", { type: "button", className: "danger delete-story", onclick: () => deleteStory(story, cases.length) },
        t("story.delete")),
    ),
    h("div", { id: "story-edit" }),
    h(
      "div",
      { className: "section-head saved-head" },
      h("h3", { id: "saved-title" }),
      h("span", { className: "spacer" }),
      format,
      " ",
      exportButton,
    ),
    h("div", { id: "saved-cases" }),
  );
  renderSavedCases(cases);
  renderStatus(story.id);
}

function renderSavedCases(cases) {
  $("#saved-title").textContent = t("story.saved_count", { count: cases.length });
  const storyId = state.view.storyId;
  $("#saved-cases").replaceChildren(
    ...(cases.length
      ? cases.map((testCase, i) => savedCaseCard(testCase, i, () => refreshStoryView(storyId)))
      : [h("p", { className: "muted" }, t("story.no_saved"))]),
  );
}

function editStory(story) {
  const box = $("#story-edit");
  if (box.firstChild) return;
  const projectSelect = h(
    "select",
    { name: "project_id" },
    [...state.projects.values()].map((p) => h("option", { value: String(p.id), selected: p.id === story.project_id }, p.name)),
  );
  const form = h(
    "form",
    { className: "card-inner story-edit-form", autocomplete: "off" },
    h("div", { className: "grid" },
      h("label", { className: "wide" }, t("page.title"), h("input", { name: "title", required: true, maxLength: 200, value: story.title })),
      h("label", {}, t("page.priority"),
        h("select", { name: "priority" },
          PRIORITIES.map((p) => h("option", { value: p, selected: p === story.priority }, t(`priority.${p}`))))),
      h("label", {}, t("page.project"), projectSelect),
      h("label", {}, t("story.language"),
        h("input", { name: "language", maxLength: 35, value: story.language || "", title: t("page.language_help"),
          placeholder: languageOf({ ...story, language: null }, state.projects.get(story.project_id)) })),
    ),
    h("label", {}, t("page.description"), h("textarea", { name: "description", rows: 2, value: story.description })),
    h("label", {}, t("story.criteria_one_per_line"),
      h("textarea", { name: "acceptance_criteria", rows: 4, value: story.acceptance_criteria.join("\n") })),
    h("div", { className: "actions" },
      h("button", { type: "submit", className: "primary" }, t("story.save")),
      h("button", { type: "button", onclick: () => box.replaceChildren() }, t("story.cancel")),
      h("span", { className: "error-text", role: "alert" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (name) => field(form, name).value;
    try {
      await api("PATCH", `/user-stories/${enc(story.id)}`, {
        title: value("title"),
        description: value("description"),
        priority: value("priority"),
        project_id: Number(value("project_id")),
        language: value("language").trim() || null,
        acceptance_criteria: value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean),
      });
      toast(t("story.saved_toast", { id: story.id }), "success");
      await showRoute({ story: story.id });
      loadStories().catch(() => {});
    } catch (err) {
      form.querySelector(".error-text").textContent = err.message;
    }
  });
  box.replaceChildren(form);
  field(form, "title").focus();
}

async function deleteStory(story, savedCount) {
  const ok = await confirmDelete(
    t("story.delete_title", { id: story.id }),
    t("story.delete_text", {
      id: story.id,
      title: story.title,
      cases: t(savedCount === 1 ? "story.saved_cases_1" : "story.saved_cases", { count: savedCount }),
    }),
    t("story.delete_button", { id: story.id }),
  );
  if (!ok) return;
  try {
    await api("DELETE", `/user-stories/${enc(story.id)}`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  toast(t("story.deleted", { id: story.id }), "success");
  navigate({ story: "" });
  loadStories().catch((err) => toast(err.message, "error"));
}
