// The testgen page: plain JavaScript ES modules, no build step. It talks to the same API as everyone
// else. This entry module wires the page's controls to the modules that do the work:
//
//   constants.js  statuses (from the server), formats, limits   dom.js      $, h(), field()
//   auth.js       API key and stream tokens                      api.js      fetch + errors
//   state.js      what the page knows                            toasts.js   news in the corner
//   stream.js     the one event stream                           jobs.js     job snapshots, queue, cancel
//   stories.js    the stories table and badges                   story-form.js  the add-a-story form
//   projects.js   projects and their model                       review.js   the review dialog
//   exports.js    export downloads                               jira.js     the Jira import dialog
//   load.js       loading projects and stories                   filters.js  search, filters, pager
//   route.js      the URL (?story=, ?q=…)                        story-view.js  one story and its tests
//   saved-cases.js  saved test cases in the story view           case-editor.js  a test case as fields
//   confirm.js    "Delete …?"                                    notify.js   "ready" while the tab is hidden
//   announce.js   aria-live announcements                        drafts.js   quality grid, repeats, instructions, usage
//   i18n.js       the page's words, by language
import { askForKey, auth } from "./auth.js";
import { $, h } from "./dom.js";
import { chooseLanguage, chosenLanguage, language, languages, t, translatePage } from "./i18n.js";
import { exportFile, formatSelect } from "./exports.js";
import { cancelJira, jira, openJira, startJira } from "./jira.js";
import { initFilters, syncFilters } from "./filters.js";
import { generateProject } from "./jobs.js";
import { listQuery, load, loadStories, sameQuery } from "./load.js";
import { askToNotify } from "./notify.js";
import { createProject } from "./projects.js";
import { discardReview, saveReview } from "./review.js";
import { currentRoute, navigate, onRoute } from "./route.js";
import { state } from "./state.js";
import { showRoute } from "./story-view.js";
import { submitStory, toggleNewProject } from "./story-form.js";
import { setConnection, stream } from "./stream.js";
import { toast } from "./toasts.js";

function start() {
  translatePage();
  languageSetting($("#ui-language"));
  auth.setKey(auth.key());
  setConnection("idle");
  $("#story-form").addEventListener("submit", submitStory);
  $("#project-select").addEventListener("change", toggleNewProject);
  $("#review-save").addEventListener("click", saveReview);
  $("#review-discard").addEventListener("click", discardReview);
  $("#refresh").addEventListener("click", () => load().catch((err) => toast(err.message, "error")));
  $("#export-project-format").replaceChildren(...formatSelect("").children);
  $("#export-project-format").selectedIndex = 0; // the moved options each arrive selected: the last would win
  $("#export-project-button").addEventListener("click", () => {
    const project = state.projects.get(Number($("#export-project").value));
    if (project) exportFile(`/projects/${project.id}/test-cases/export`, $("#export-project-format").value, project.name);
  });
  $("#generate-project-button").addEventListener("click", (event) => {
    const project = state.projects.get(Number($("#generate-project").value));
    askToNotify(); // a user gesture: the one moment the browser lets the page ask
    if (project) generateProject(project, $("#generate-only-new").checked, event.currentTarget);
  });
  $("#jira-open").addEventListener("click", openJira);
  $("#jira-form").addEventListener("submit", startJira);
  $("#jira-cancel").addEventListener("click", cancelJira);
  $("#key-button").addEventListener("click", () => askForKey("").then(() => load()));
  $("#project-form").addEventListener("submit", createProject);
  $("#home-link").addEventListener("click", (event) => {
    event.preventDefault();
    navigate({ story: "", q: "", project: "", state: "", page: 1 });
  });
  initFilters();
  onRoute((route) => {
    syncFilters(route);
    if (state.listQuery && !sameQuery(state.listQuery, listQuery(route))) {
      loadStories().catch((err) => toast(err.message, "error"));
    }
    showRoute(route);
  });
  load()
    .then(() => showRoute(currentRoute()))
    .catch((err) => {
      toast(t("load.failed", { error: err.message }), "error", 10000);
    });
  window.testgen = { state, stream, jira }; // for the curious (and the browser tests)
}

/** The page's language setting: the browser's (Accept-Language) until one is chosen here. */
function languageSetting(select) {
  const chosen = chosenLanguage();
  select.replaceChildren(
    h("option", { value: "", selected: !chosen }, t("language.browser", { language: t(`language.${language}`) })),
    ...languages.map((code) => h("option", { value: code, selected: code === chosen }, t(`language.${code}`))),
  );
  select.addEventListener("change", () => chooseLanguage(select.value));
}

// Module scripts run after the document is parsed, before DOMContentLoaded.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
