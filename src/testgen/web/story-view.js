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
    toast(err.status === 404 ? `There is no story ${route.story} (deleted?)` : err.message, "error", 8000);
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

function renderStoryView(story, cases) {
  const project = state.projects.get(story.project_id);
  const status = h("span", { className: "status" });
  const { controls, button } = generateControls(story.id);
  state.view = { storyId: story.id, story, parts: { status, generate: button } };
  const back = h("a", { href: "?", className: "back" }, "← All stories");
  back.addEventListener("click", (event) => {
    event.preventDefault();
    navigate({ story: "" });
  });
  const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
  const format = formatSelect("view-export-format", `Export format for ${story.id}`);
  const exportButton = h("button", { type: "button", className: "view-export" }, "Export");
  exportButton.addEventListener("click", () =>
    exportFile(`/user-stories/${enc(story.id)}/test-cases/export`, format.value, story.id),
  );
  $("#story-view").replaceChildren(
    h("div", { className: "section-head" }, back),
    h("h2", { id: "story-view-title", tabIndex: -1 }, `${story.id}: ${story.title}`),
    h(
      "p",
      { className: "muted story-meta" },
      `Project ${project ? project.name : "—"} · priority ${story.priority}`,
      jira ? [" · ", h("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer" }, "open in Jira")] : null,
    ),
    h("div", { className: "story-body" },
      h("p", { className: "story-description" }, story.description || "No description."),
      h("h3", {}, "Acceptance criteria"),
      h("ol", { className: "story-criteria" }, story.acceptance_criteria.map((c) => h("li", {}, c))),
    ),
    h(
      "div",
      { className: "actions view-actions" },
      h("span", { className: "generate" }, ...controls),
      status,
      h("span", { className: "spacer" }),
      h("button", { type: "button", className: "edit-story", onclick: () => editStory(story) }, "Edit story"),
      h("button", { type: "button", className: "danger delete-story", onclick: () => deleteStory(story, cases.length) },
        "Delete story"),
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
  $("#saved-title").textContent = `Saved test cases (${cases.length})`;
  const storyId = state.view.storyId;
  $("#saved-cases").replaceChildren(
    ...(cases.length
      ? cases.map((testCase, i) => savedCaseCard(testCase, i, () => refreshStoryView(storyId)))
      : [h("p", { className: "muted" }, "No saved test cases yet: Generate, review, then Save.")]),
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
      h("label", { className: "wide" }, "Title", h("input", { name: "title", required: true, maxLength: 200, value: story.title })),
      h("label", {}, "Priority",
        h("select", { name: "priority" }, PRIORITIES.map((p) => h("option", { value: p, selected: p === story.priority }, p)))),
      h("label", {}, "Project", projectSelect),
    ),
    h("label", {}, "Description", h("textarea", { name: "description", rows: 2, value: story.description })),
    h("label", {}, "Acceptance criteria (one per line)",
      h("textarea", { name: "acceptance_criteria", rows: 4, value: story.acceptance_criteria.join("\n") })),
    h("div", { className: "actions" },
      h("button", { type: "submit", className: "primary" }, "Save story"),
      h("button", { type: "button", onclick: () => box.replaceChildren() }, "Cancel"),
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
        acceptance_criteria: value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean),
      });
      toast(`${story.id}: saved`, "success");
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
  const cases = `${savedCount} saved test case${savedCount === 1 ? "" : "s"}`;
  const ok = await confirmDelete(
    `Delete ${story.id}?`,
    `Delete story ${story.id} “${story.title}”, its ${cases} and its generation jobs? This cannot be undone.`,
    `Delete ${story.id}`,
  );
  if (!ok) return;
  try {
    await api("DELETE", `/user-stories/${enc(story.id)}`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  toast(`Deleted ${story.id}`, "success");
  navigate({ story: "" });
  loadStories().catch((err) => toast(err.message, "error"));
}
