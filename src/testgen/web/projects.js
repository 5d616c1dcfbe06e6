// Projects: create them (server admins) and rename them; each may choose its LLM provider and model,
// and has its members and its connections to test-management tools (project admins change them). A
// change emits `projectsChanged` (every project menu of the page follows).
import { translate } from "./i18n.js";
import { api } from "./api.js";
import { LIMITS, PROJECT_ROLE } from "./constants.js";
import { byId, createElement, formField } from "./dom.js";
import { projectTools } from "./drafts.js";
import { emit } from "./events.js";
import { inputLimits } from "./input-limits.js";
import { openConnections } from "./connections.js";
import { openMembers } from "./members.js";
import { can, isServerAdmin } from "./permissions.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/** @param {SubmitEvent} event  the new-project form's */
export async function createProject(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const error = byId("project-error");
  error.textContent = "";
  try {
    const { data } = await api("POST", "/projects", { name: formField(form, "name").value.trim() });
    state.projects.set(data.id, data);
    emit("projectsChanged");
    form.reset();
    toast(translate("project.created", { name: data.name }), "success");
  } catch (err) {
    error.textContent = err.message;
  }
}

export function renderProjectTable() {
  const body = byId("projects").querySelector("tbody");
  if (!body) return;
  const providers = state.providers;
  const fallback = providers.find((p) => p.default);
  body.replaceChildren(
    ...[...state.projects.values()].map((project) => {
      const select = createElement(
        "select",
        { name: "llm_provider", "aria-label": translate("project.provider_of", { name: project.name }) },
        createElement("option", { value: "" }, translate("project.server_default_named", { name: fallback ? fallback.name : "?" })),
        ...providers.map((p) => createElement("option", { value: p.name }, p.name)),
      );
      select.value = project.llm_provider || "";
      const defaultModel = () => {
        const chosen = providers.find((p) => p.name === select.value) || fallback;
        return chosen ? chosen.default_model : "";
      };
      const modelInput = createElement("input", {
        name: "llm_model",
        ...inputLimits(LIMITS.project.llm_model),
        value: project.llm_model || "",
        placeholder: defaultModel(),
        "aria-label": translate("project.model_of", { name: project.name }),
      });
      select.addEventListener("change", () => {
        modelInput.value = "";
        modelInput.placeholder = defaultModel();
      });
      const nameInput = createElement("input", {
        name: "name", ...inputLimits(LIMITS.project.name), required: true, value: project.name, "aria-label": translate("project.name_of", { name: project.name }),
      });
      const languageInput = createElement("input", {
        name: "language", ...inputLimits(LIMITS.project.language), value: project.language || "", placeholder: translate("project.language_auto"),
        title: translate("project.language_help"), "aria-label": translate("project.language_of", { name: project.name }),
      });
      const save = createElement("button", { type: "button", className: "link", "aria-label": translate("project.save_named", { name: project.name }) }, translate("project.save"));
      save.addEventListener("click", async () => {
        if (!nameInput.reportValidity()) return;
        save.disabled = true;
        try {
          /** @type {Record<string, string | null>} */
          const changes = {
            llm_provider: select.value || null,
            llm_model: modelInput.value.trim() || null,
            language: languageInput.value.trim() || null,
          };
          if (nameInput.value.trim() !== project.name) changes.name = nameInput.value.trim();
          const { data } = await api("PATCH", `/projects/${project.id}`, changes);
          state.projects.set(data.id, data);
          emit("projectsChanged");
          const model = data.llm_model ? ` / ${data.llm_model}` : "";
          toast(`${data.name}: ${data.llm_provider || translate("project.server_default")}${model}`, "success");
        } catch (err) {
          toast(err.message, "error");
        } finally {
          save.disabled = false;
        }
      });
      const admin = can(project.id, PROJECT_ROLE.admin);
      for (const field of [nameInput, select, modelInput, languageInput]) field.disabled = !admin;
      save.hidden = !admin;
      const members = admin
        ? createElement("button", { type: "button", className: "link project-members", "aria-label": translate("members.open_named", { name: project.name }),
          onclick: () => openMembers(project) }, translate("members.open"))
        : "";
      const connections = admin
        ? createElement("button", { type: "button", className: "link project-connections", "aria-label": translate("connections.open_named", { name: project.name }),
          onclick: () => openConnections(project) }, translate("connections.open"))
        : "";
      return createElement("tr", { dataset: { project: String(project.id) } },
        createElement("td", {}, nameInput), createElement("td", {}, select), createElement("td", {}, modelInput), createElement("td", {}, languageInput), createElement("td", {}, save),
        createElement("td", {}, projectTools(project, (data) => state.projects.set(data.id, data)), " ", members, " ", connections));
    }),
  );
  byId("projects-empty").hidden = state.projects.size > 0;
  byId("project-form").hidden = !isServerAdmin(); // only server admins create projects
}
