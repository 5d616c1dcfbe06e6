// The add-a-story form, for editors: stories go into the projects where the caller is an editor (a
// server admin also creates a project with it). A story added emits `storyAdded`; a project created
// with it `projectsChanged`.
import { translate } from "./i18n.js";
import { api } from "./api.js";
import { DEFAULT_PRIORITY, NEW_PROJECT, PRIORITIES, PROJECT_ROLE } from "./constants.js";
import { byId, createElement, formField } from "./dom.js";
import { emit } from "./events.js";
import { can, isServerAdmin } from "./permissions.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

const storyForm = () => byId("story-form", HTMLFormElement);
const projectSelect = () => byId("project-select", HTMLSelectElement);

/** The form's priority menu: the server's priorities, its default chosen. */
export function initStoryForm() {
  formField(storyForm(), "priority").replaceChildren(
    ...PRIORITIES.map((p) => createElement("option", { value: p, selected: p === DEFAULT_PRIORITY }, translate(`priority.${p}`))),
  );
}

/**
 * The project menu: the projects where the caller may add stories, and "a new project…" for server
 * admins; the form is not offered to those who may add none.
 * @param {number} [selected]  the project to choose (else the first)
 */
export function renderProjects(selected) {
  const select = projectSelect();
  const projects = [...state.projects.values()].filter((p) => can(p.id, PROJECT_ROLE.editor));
  const creates = isServerAdmin();
  select.replaceChildren(
    ...projects.map((p) => createElement("option", { value: String(p.id) }, p.name)),
    ...(creates ? [createElement("option", { value: NEW_PROJECT }, translate("form.new_project"))] : []),
  );
  const offered = selected !== undefined && projects.some((p) => p.id === selected);
  select.value = offered ? String(selected) : projects.length ? String(projects[0].id) : NEW_PROJECT;
  byId("add-story").classList.toggle("not-allowed", !projects.length && !creates);
  toggleNewProject();
}

export function toggleNewProject() {
  const isNew = projectSelect().value === NEW_PROJECT;
  byId("new-project-label").hidden = !isNew;
  formField(storyForm(), "new_project").required = isNew;
}

/** @param {SubmitEvent} event */
export async function submitStory(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const error = byId("form-error");
  error.textContent = "";
  const submit = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  submit.disabled = true;
  try {
    const value = (/** @type {string} */ name) => formField(form, name).value;
    let projectId = value("project_id");
    if (projectId === NEW_PROJECT) {
      const { data: project } = await api("POST", "/projects", {
        name: value("new_project").trim(),
      });
      state.projects.set(project.id, project);
      projectId = project.id;
      emit("projectsChanged", project.id);
    }
    const criteria = value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean);
    const { data: story } = await api("POST", "/user-stories", {
      id: value("id").trim(),
      title: value("title"),
      description: value("description"),
      acceptance_criteria: criteria,
      priority: value("priority"),
      project_id: Number(projectId),
      language: value("language").trim() || null,
    });
    emit("storyAdded", story);
    toast(translate("form.added", { id: story.id }), "success");
    for (const name of ["id", "title", "description", "acceptance_criteria", "new_project", "language"]) {
      formField(form, name).value = "";
    }
    formField(form, "id").focus();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    submit.disabled = false;
  }
}
