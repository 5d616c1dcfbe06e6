// Projects: create and rename them; each may choose its LLM provider and model.
import { t } from "./i18n.js";
import { api } from "./api.js";
import { $, field, h } from "./dom.js";
import { projectTools } from "./drafts.js";
import { renderProjectLists } from "./load.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

export async function createProject(event) {
  event.preventDefault();
  const form = event.target;
  const error = $("#project-error");
  error.textContent = "";
  try {
    const { data } = await api("POST", "/projects", { name: field(form, "name").value.trim() });
    state.projects.set(data.id, data);
    renderProjectLists();
    form.reset();
    toast(t("project.created", { name: data.name }), "success");
  } catch (err) {
    error.textContent = err.message;
  }
}

export function renderProjectTable() {
  const body = $("#projects tbody");
  const providers = state.providers;
  const fallback = providers.find((p) => p.default);
  body.replaceChildren(
    ...[...state.projects.values()].map((project) => {
      const select = h(
        "select",
        { name: "llm_provider", "aria-label": t("project.provider_of", { name: project.name }) },
        h("option", { value: "" }, t("project.server_default_named", { name: fallback ? fallback.name : "?" })),
        ...providers.map((p) => h("option", { value: p.name }, p.name)),
      );
      select.value = project.llm_provider || "";
      const defaultModel = () => {
        const chosen = providers.find((p) => p.name === select.value) || fallback;
        return chosen ? chosen.default_model : "";
      };
      const modelInput = h("input", {
        name: "llm_model",
        maxLength: 200,
        value: project.llm_model || "",
        placeholder: defaultModel(),
        "aria-label": t("project.model_of", { name: project.name }),
      });
      select.addEventListener("change", () => {
        modelInput.value = "";
        modelInput.placeholder = defaultModel();
      });
      const nameInput = h("input", {
        name: "name", maxLength: 200, required: true, value: project.name, "aria-label": t("project.name_of", { name: project.name }),
      });
      const languageInput = h("input", {
        name: "language", maxLength: 35, value: project.language || "", placeholder: t("project.language_auto"),
        title: t("project.language_help"), "aria-label": t("project.language_of", { name: project.name }),
      });
      const save = h("button", { type: "button", className: "link", "aria-label": t("project.save_named", { name: project.name }) }, t("project.save"));
      save.addEventListener("click", async () => {
        if (!nameInput.reportValidity()) return;
        save.disabled = true;
        try {
          const changes = {
            llm_provider: select.value || null,
            llm_model: modelInput.value.trim() || null,
            language: languageInput.value.trim() || null,
          };
          if (nameInput.value.trim() !== project.name) changes.name = nameInput.value.trim();
          const { data } = await api("PATCH", `/projects/${project.id}`, changes);
          state.projects.set(data.id, data);
          renderProjectLists();
          const model = data.llm_model ? ` / ${data.llm_model}` : "";
          toast(`${data.name}: ${data.llm_provider || t("project.server_default")}${model}`, "success");
        } catch (err) {
          toast(err.message, "error");
        } finally {
          save.disabled = false;
        }
      });
      return h("tr", { dataset: { project: String(project.id) } },
        h("td", {}, nameInput), h("td", {}, select), h("td", {}, modelInput), h("td", {}, languageInput), h("td", {}, save),
        h("td", {}, projectTools(project, (data) => state.projects.set(data.id, data))));
    }),
  );
  $("#projects-empty").hidden = state.projects.size > 0;
}
