import { api } from "./api.js";
import { NEW_PROJECT } from "./constants.js";
import { $, field, h } from "./dom.js";
import { renderProjectLists, showAddedStory } from "./load.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

// --- the add-a-story form -------------------------------------------------------------------------
export function renderProjects(selected) {
  const select = $("#project-select");
  const projects = [...state.projects.values()];
  select.replaceChildren(
    ...projects.map((p) => h("option", { value: String(p.id) }, p.name)),
    h("option", { value: NEW_PROJECT }, "+ New project…"),
  );
  select.value = selected !== undefined ? String(selected) : projects.length ? String(projects[0].id) : NEW_PROJECT;
  toggleNewProject();
}

export function toggleNewProject() {
  const isNew = $("#project-select").value === NEW_PROJECT;
  $("#new-project-label").hidden = !isNew;
  field($("#story-form"), "new_project").required = isNew;
}

export async function submitStory(event) {
  event.preventDefault();
  const form = event.target;
  const error = $("#form-error");
  error.textContent = "";
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const value = (name) => field(form, name).value;
    let projectId = value("project_id");
    if (projectId === NEW_PROJECT) {
      const { data: project } = await api("POST", "/projects", {
        name: value("new_project").trim(),
      });
      state.projects.set(project.id, project);
      projectId = project.id;
      renderProjectLists(project.id);
    }
    const criteria = value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean);
    const { data: story } = await api("POST", "/user-stories", {
      id: value("id").trim(),
      title: value("title"),
      description: value("description"),
      acceptance_criteria: criteria,
      priority: value("priority"),
      project_id: Number(projectId),
    });
    showAddedStory(story);
    toast(`Added ${story.id}`, "success");
    for (const name of ["id", "title", "description", "acceptance_criteria", "new_project"]) {
      field(form, name).value = "";
    }
    field(form, "id").focus();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    submit.disabled = false;
  }
}
