// The testgen page: plain JavaScript ES modules, no build step. It talks to the same API as everyone
// else. This entry module wires the page: its controls to the modules that do the work, and each
// page event (events.js) to the modules that show it. Modules import downward only:
//
//   app.js          this: the wiring
//   features        story-view.js (one story and its tests), history.js (a story's history),
//                   load.js (projects and the story list), jira.js (the Jira import dialog),
//                   inbox.js (the review inbox), stories.js (the table, badges, error dialog),
//                   story-form.js (add a story), projects.js (projects and their model),
//                   members.js (a project's members), connections.js (a project's connections),
//                   push.js ("Push to…" and a push followed to its result), account.js (who is
//                   asking, the user menu, API tokens, users), filters.js (search, filters, pager),
//                   review.js (the review dialog), review-gate.js (submit, approve, request changes),
//                   saved-cases.js, case-editor.js (a test case as fields), drafts.js (quality grid,
//                   repeats, project settings, usage), exports.js (downloads), jobs.js (job
//                   snapshots, queue, cancel), stream.js (the one event stream), notify.js ("ready"
//                   while away), dialogs.js (the dialogs scripts build, dates)
//   shared helpers  api.js (fetch, errors, sign-in, stream URLs), auth.js (the credentials and the
//                   sign-in dialog), permissions.js (the caller's roles), constants.js (the server's
//                   statuses, enums and limits), input-limits.js, events.js (page events),
//                   route.js (the URL), state.js (what the page knows), toasts.js, announce.js,
//                   confirm.js, dom.js (byId, createElement, …), i18n.js (the page's words)
//
// types.js holds the JSDoc types of the shapes they share (a job, a story, a test case, the server's
// constants), for `tsc --checkJs` (tools/check_web.sh).
import { credentialChanged, startAccount } from "./account.js";
import { signIn } from "./api.js";
import { apiKey, askForCredential, setApiKey } from "./auth.js";
import { byId, createElement } from "./dom.js";
import { on } from "./events.js";
import { chooseLanguage, chosenLanguage, language, languages, translate, translatePage } from "./i18n.js";
import { applyInputLimits } from "./input-limits.js";
import { automationFile, exportFile, formatSelect, frameworkSelect } from "./exports.js";
import { cancelJira, jira, openJira, showImportSource, startJira } from "./jira.js";
import { initFilters, syncFilters } from "./filters.js";
import { refreshInbox } from "./inbox.js";
import { applySnapshot, forgetTask, generateProject } from "./jobs.js";
import { listQuery, load, loadStories, renderProjectLists, sameQuery, showAddedStory } from "./load.js";
import { askToNotify, notifyReady } from "./notify.js";
import { createProject } from "./projects.js";
import { renderProjectPush } from "./push.js";
import { discardReview, openReview, saveReview } from "./review.js";
import { currentRoute, navigate, onRoute } from "./route.js";
import { state } from "./state.js";
import { holdStoryView, refreshStoryView, showRoute } from "./story-view.js";
import { initStoryForm, submitStory, toggleNewProject } from "./story-form.js";
import { renderAllStatuses, renderStatus } from "./stories.js";
import { setConnection, stream } from "./stream.js";
import { toast } from "./toasts.js";

/** Each page event to the modules that show it. */
function wireEvents() {
  on("jobNews", applySnapshot);
  on("jobGone", forgetTask);
  on("storyJobChanged", renderStatus);
  on("workerWarningChanged", renderAllStatuses);
  on("draftReady", (job, count) => notifyReady(job, count, () => openReview(job.task_id)));
  on("testCasesSaved", refreshStoryView);
  on("projectsChanged", renderProjectLists);
  on("storyAdded", showAddedStory);
  on("storiesImported", () => load().catch((err) => toast(err.message, "error")));
  on("credentialChanged", credentialChanged);
  on("accountChanged", () => {
    if (state.listQuery) renderProjectLists(); // what the page offers follows the caller's roles (the list too)
    if (state.view) showRoute(currentRoute());
    refreshInbox();
  });
  on("reviewsChanged", refreshInbox);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.listQuery) refreshInbox(); // back to the tab: news may wait
  });
}

/** The page's own controls (index.html) to what they do. */
function wireControls() {
  byId("story-form").addEventListener("submit", submitStory);
  byId("project-select").addEventListener("change", toggleNewProject);
  byId("review-save").addEventListener("click", saveReview);
  byId("review-discard").addEventListener("click", discardReview);
  byId("refresh").addEventListener("click", () => load().catch((err) => toast(err.message, "error")));
  const exportFormat = byId("export-project-format", HTMLSelectElement);
  exportFormat.replaceChildren(...formatSelect("").children);
  exportFormat.selectedIndex = 0; // the moved options each arrive selected: the last would win
  byId("export-project-button").addEventListener("click", () => {
    const project = state.projects.get(Number(byId("export-project", HTMLSelectElement).value));
    if (project) exportFile(`/projects/${project.id}/test-cases/export`, exportFormat.value, project.name);
  });
  const framework = byId("automation-project-framework", HTMLSelectElement);
  framework.replaceChildren(...frameworkSelect("", "").children);
  framework.selectedIndex = 0;
  byId("automation-project-button").addEventListener("click", () => {
    const project = state.projects.get(Number(byId("export-project", HTMLSelectElement).value));
    if (project) automationFile(`/projects/${project.id}/test-cases/automation`, framework.value);
  });
  byId("export-project").addEventListener("change", renderProjectPush); // "Push to…" follows the project chosen
  byId("generate-project-button").addEventListener("click", (event) => {
    const project = state.projects.get(Number(byId("generate-project", HTMLSelectElement).value));
    askToNotify(); // a user gesture: the one moment the browser lets the page ask
    const onlyNew = byId("generate-only-new", HTMLInputElement).checked;
    if (project) generateProject(project, onlyNew, /** @type {HTMLButtonElement} */ (event.currentTarget));
  });
  byId("jira-open").addEventListener("click", openJira);
  byId("jira-form").addEventListener("submit", startJira);
  byId("import-source").addEventListener("change", showImportSource);
  byId("jira-cancel").addEventListener("click", cancelJira);
  byId("key-button").addEventListener("click", () => askForCredential({}, signIn).then(() => load()));
  byId("project-form").addEventListener("submit", createProject);
  byId("home-link").addEventListener("click", (event) => {
    event.preventDefault();
    navigate({ story: "", q: "", project: "", state: "", page: 1 });
  });
}

function start() {
  translatePage();
  applyInputLimits(document.body);
  initStoryForm();
  languageSetting(byId("ui-language", HTMLSelectElement));
  setApiKey(apiKey());
  setConnection("idle");
  wireEvents();
  wireControls();
  initFilters();
  if (currentRoute().story) holdStoryView();
  onRoute((route) => {
    syncFilters(route);
    if (state.listQuery && !sameQuery(state.listQuery, listQuery(route))) {
      loadStories().catch((err) => toast(err.message, "error"));
    }
    showRoute(route);
  });
  startAccount()
    .then(() => load())
    .then(() => showRoute(currentRoute()))
    .catch((err) => {
      toast(translate("load.failed", { error: err.message }), "error", 10000);
    });
  Object.assign(window, { testgen: { state, stream, jira } }); // for the curious (and the browser tests)
}

/**
 * The page's language setting: the browser's (Accept-Language) until one is chosen here.
 * @param {HTMLSelectElement} select
 */
function languageSetting(select) {
  const chosen = chosenLanguage();
  select.replaceChildren(
    createElement("option", { value: "", selected: !chosen },
      translate("language.browser", { language: translate(`language.${language}`) })),
    ...languages.map((code) => createElement("option", { value: code, selected: code === chosen }, translate(`language.${code}`))),
  );
  select.addEventListener("change", () => chooseLanguage(select.value));
}

// Module scripts run after the document is parsed, before DOMContentLoaded.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
