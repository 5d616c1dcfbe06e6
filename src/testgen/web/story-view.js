// The story view (?story=ID): the story's description and criteria, its job's badge, its saved test
// cases (rendered as Gherkin, each editable and deletable by editors, with who approved it), their
// export and "Push to…" (reviewers), and its history; editors edit or delete the story.
import { api, ApiError } from "./api.js";
import { attachmentsSection } from "./attachments.js";
import { confirmDelete } from "./confirm.js";
import { LIMITS, PRIORITIES, PROJECT_ROLE } from "./constants.js";
import { byId, createElement, encodePath, formField } from "./dom.js";
import { automationFile, exportFile, formatSelect, frameworkSelect } from "./exports.js";
import { historySection } from "./history.js";
import { inputLimits } from "./input-limits.js";
import { loadStories } from "./load.js";
import { memberNames } from "./members.js";
import { can } from "./permissions.js";
import { canPush, pushMenu } from "./push.js";
import { savedCaseCard } from "./saved-cases.js";
import { generateControls, renderStatus } from "./stories.js";
import { storyCheck } from "./design.js";
import { state } from "./state.js";
import { scheduleStream, stream } from "./stream.js";
import { translate } from "./i18n.js";
import { toast } from "./toasts.js";
import { navigate } from "./route.js";

/**
 * @typedef {import("./types.js").Project} Project
 * @typedef {import("./types.js").Story} Story
 * @typedef {import("./types.js").TestCase} TestCase
 */

const LIST_PARTS = ["add-story", "projects-card", "stories-card"];
let viewTicket = 0;

/**
 * Show the story the URL names, or the list when it names none.
 * @param {Pick<import("./types.js").Route, "story">} route
 */
export async function showRoute(route) {
  const view = byId("story-view");
  const listWasShown = view.hidden;
  if (!route.story) {
    state.view = null;
    view.removeAttribute("aria-busy");
    view.hidden = true;
    view.replaceChildren();
    for (const part of LIST_PARTS) byId(part).hidden = false;
    if (!listWasShown) byId("stories-heading").focus();
    return;
  }
  const ticket = ++viewTicket;
  let story;
  let cases;
  try {
    [{ data: story }, { data: cases }] = await Promise.all([
      api("GET", `/user-stories/${encodePath(route.story)}`),
      api("GET", `/user-stories/${encodePath(route.story)}/test-cases`),
    ]);
  } catch (err) {
    if (ticket !== viewTicket) return;
    toast(err instanceof ApiError && err.status === 404 ? translate("story.not_found", { id: route.story }) : err.message, "error", 8000);
    navigate({ story: "" }, { replace: true });
    return;
  }
  if (ticket !== viewTicket) return; // another story was chosen meanwhile
  for (const part of LIST_PARTS) byId(part).hidden = true;
  view.hidden = false;
  view.removeAttribute("aria-busy");
  renderStoryView(story, cases);
  byId("story-view-title").focus();
  followStory(story.id);
}

/**
 * The page opens on a story: the list's parts are hidden and the view's place kept at once, so the
 * list never shows (and moves away) while the story loads.
 */
export function holdStoryView() {
  for (const part of LIST_PARTS) byId(part).hidden = true;
  const view = byId("story-view");
  view.hidden = false;
  view.setAttribute("aria-busy", "true");
}

/**
 * The saved test cases and the history again (after a save in the review dialog, an edit or a deletion).
 * @param {string} storyId
 */
export async function refreshStoryView(storyId) {
  if (!state.view || state.view.storyId !== storyId) return;
  try {
    const { data: cases } = await api("GET", `/user-stories/${encodePath(storyId)}/test-cases`);
    if (state.view && state.view.storyId === storyId) {
      renderSavedCases(cases);
      document.getElementById("story-history")?.replaceWith(historySection(storyId));
    }
  } catch (err) {
    toast(err.message, "error");
  }
}

/** @param {string} storyId */
function followStory(storyId) {
  if (state.storyTask.has(storyId)) return;
  stream.pendingStories.add(storyId);
  scheduleStream(0);
}

/**
 * The language the story's tests are written in, and where it comes from (core/languages.py's order).
 * @param {Story} story
 * @param {Project | undefined} project
 */
function languageOf(story, project) {
  if (story.language) return story.language;
  if (project && project.language) return translate("story.language_of_project", { language: project.language });
  if (story.detected_language && story.detected_language !== "und") {
    return translate("story.language_detected", { language: story.detected_language });
  }
  return translate("story.language_default", { language: "en" });
}

/** @param {Story} story */
function projectOf(story) {
  return story.project_id === null ? undefined : state.projects.get(story.project_id);
}

/**
 * @param {Story} story
 * @param {TestCase[]} cases  its saved test cases
 */
function renderStoryView(story, cases) {
  const project = projectOf(story);
  const editor = can(story.project_id, PROJECT_ROLE.editor);
  const status = createElement("span", { className: "status" });
  const { controls, button } = generateControls(story.id, story.project_id);
  state.view = { storyId: story.id, story, parts: { status, generate: button } };
  const back = createElement("a", { href: "?", className: "back" }, translate("story.all_stories"));
  back.addEventListener("click", (event) => {
    event.preventDefault();
    navigate({ story: "" });
  });
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const format = formatSelect("view-export-format", translate("story.export_format_for", { id: story.id }));
  const exportButton = createElement("button", { type: "button", className: "view-export" }, translate("page.export"));
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${encodePath(story.id)}/test-cases/export`, format.value, story.id),
  );
  const framework = frameworkSelect("view-automation-framework", translate("story.automation_framework_for", { id: story.id }));
  const automationButton = createElement("button", { type: "button", className: "view-automation" }, translate("page.automation_skeleton"));
  automationButton.addEventListener("click", () =>
    automationFile(`/user-stories/${encodePath(story.id)}/test-cases/automation`, framework.value),
  );
  byId("story-view").replaceChildren(
    createElement("div", { className: "section-head" }, back),
    createElement("h2", { id: "story-view-title", tabIndex: -1 }, `${story.id}: ${story.title}`),
    createElement(
      "p",
      { className: "muted story-meta" },
      translate("story.meta", { project: project ? project.name : "—", priority: translate(`priority.${story.priority}`) }),
      " · ",
      createElement("span", { className: "story-language" }, translate("story.language_meta", { language: languageOf(story, project) })),
      jira ? [" · ", createElement("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer" }, translate("story.open_in_jira"))] : null,
    ),
    createElement("div", { className: "story-body" },
      createElement("p", { className: "story-description" }, story.description || translate("story.no_description")),
      createElement("h3", {}, translate("page.acceptance_criteria")),
      createElement("ol", { className: "story-criteria" }, story.acceptance_criteria.map((c) => createElement("li", {}, c))),
    ),
    storyCheck(story.id, editor),
    attachmentsSection(story.id, editor),
    createElement(
      "div",
      { className: "actions view-actions" },
      createElement("span", { className: "generate" }, ...controls),
      status,
      createElement("span", { className: "spacer" }),
      editor ? createElement("button", { type: "button", className: "edit-story", onclick: () => editStory(story) }, translate("story.edit")) : null,
      editor ? createElement("button", { type: "button", className: "danger delete-story", onclick: () => deleteStory(story, cases.length) },
        translate("story.delete")) : null,
    ),
    createElement("div", { id: "story-edit" }),
    createElement(
      "div",
      { className: "section-head saved-head" },
      createElement("h3", { id: "saved-title" }),
      createElement("span", { className: "spacer" }),
      format,
      " ",
      exportButton,
      " ",
      framework,
      " ",
      automationButton,
      project && canPush(project.id) ? [" ", pushMenu(() => project, [story.id], "view-push")] : null,
    ),
    createElement("div", { id: "saved-cases" }),
    historySection(story.id),
  );
  renderSavedCases(cases);
  renderStatus(story.id);
}

/** @param {TestCase[]} cases */
function renderSavedCases(cases) {
  if (!state.view) return;
  byId("saved-title").textContent = translate("story.saved_count", { count: cases.length });
  const { storyId, story } = state.view;
  const editable = can(story.project_id, PROJECT_ROLE.editor);
  const approved = cases.some((c) => c.approved_by);
  const names = approved && story.project_id !== null ? memberNames(story.project_id) : Promise.resolve(new Map());
  byId("saved-cases").replaceChildren(
    ...(cases.length
      ? cases.map((testCase, i) => savedCaseCard(testCase, i, () => refreshStoryView(storyId), { editable, names }))
      : [createElement("p", { className: "muted" }, translate("story.no_saved"))]),
  );
}

/** @param {Story} story */
function editStory(story) {
  const box = byId("story-edit");
  if (box.firstChild) return;
  const projectSelect = createElement(
    "select",
    { name: "project_id" },
    [...state.projects.values()]
      .filter((p) => p.id === story.project_id || can(p.id, PROJECT_ROLE.editor)) // a story moves where its editor adds stories
      .map((p) => createElement("option", { value: String(p.id), selected: p.id === story.project_id }, p.name)),
  );
  const form = createElement(
    "form",
    { className: "card-inner story-edit-form", autocomplete: "off" },
    createElement("div", { className: "grid" },
      createElement("label", { className: "wide" }, translate("page.title"),
        createElement("input", { name: "title", required: true, ...inputLimits(LIMITS.story.title), value: story.title })),
      createElement("label", {}, translate("page.priority"),
        createElement("select", { name: "priority" },
          PRIORITIES.map((p) => createElement("option", { value: p, selected: p === story.priority }, translate(`priority.${p}`))))),
      createElement("label", {}, translate("page.project"), projectSelect),
      createElement("label", {}, translate("story.language"),
        createElement("input", { name: "language", ...inputLimits(LIMITS.story.language), value: story.language || "",
          title: translate("page.language_help"), placeholder: languageOf({ ...story, language: null }, projectOf(story)) })),
    ),
    createElement("label", {}, translate("page.description"), createElement("textarea", { name: "description", rows: 2, value: story.description })),
    createElement("label", {}, translate("story.criteria_one_per_line"),
      createElement("textarea", { name: "acceptance_criteria", rows: 4, value: story.acceptance_criteria.join("\n") })),
    createElement("div", { className: "actions" },
      createElement("button", { type: "submit", className: "primary" }, translate("story.save")),
      createElement("button", { type: "button", onclick: () => box.replaceChildren() }, translate("story.cancel")),
      createElement("span", { className: "error-text", role: "alert" }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (/** @type {string} */ name) => formField(form, name).value;
    try {
      await api("PATCH", `/user-stories/${encodePath(story.id)}`, {
        title: value("title"),
        description: value("description"),
        priority: value("priority"),
        project_id: Number(value("project_id")),
        language: value("language").trim() || null,
        acceptance_criteria: value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean),
      });
      toast(translate("story.saved_toast", { id: story.id }), "success");
      await showRoute({ story: story.id });
      loadStories().catch(() => {});
    } catch (err) {
      const error = form.querySelector(".error-text");
      if (error) error.textContent = err.message;
    }
  });
  box.replaceChildren(form);
  formField(form, "title").focus();
}

/**
 * @param {Story} story
 * @param {number} savedCount
 */
async function deleteStory(story, savedCount) {
  const ok = await confirmDelete(
    translate("story.delete_title", { id: story.id }),
    translate("story.delete_text", {
      id: story.id,
      title: story.title,
      cases: translate(savedCount === 1 ? "story.saved_cases_1" : "story.saved_cases", { count: savedCount }),
    }),
    translate("story.delete_button", { id: story.id }),
  );
  if (!ok) return;
  try {
    await api("DELETE", `/user-stories/${encodePath(story.id)}`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  toast(translate("story.deleted", { id: story.id }), "success");
  navigate({ story: "" });
  loadStories().catch((err) => toast(err.message, "error"));
}
