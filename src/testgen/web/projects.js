// Projects: each may choose its LLM provider and model.
import { api } from "./api.js";
import { $, h } from "./dom.js";
import { projectTools } from "./drafts.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

export function renderProjectTable() {
  const body = $("#projects tbody");
  const providers = state.providers;
  const fallback = providers.find((p) => p.default);
  body.replaceChildren(
    ...[...state.projects.values()].map((project) => {
      const select = h(
        "select",
        { name: "llm_provider", "aria-label": `LLM provider of ${project.name}` },
        h("option", { value: "" }, `server default (${fallback ? fallback.name : "?"})`),
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
        "aria-label": `Model of ${project.name}`,
      });
      select.addEventListener("change", () => {
        modelInput.value = "";
        modelInput.placeholder = defaultModel();
      });
      const save = h("button", { type: "button", className: "link" }, "Save");
      save.addEventListener("click", async () => {
        save.disabled = true;
        try {
          const { data } = await api("PATCH", `/projects/${project.id}`, {
            llm_provider: select.value || null,
            llm_model: modelInput.value.trim() || null,
          });
          state.projects.set(data.id, data);
          renderProjectTable();
          const model = data.llm_model ? ` / ${data.llm_model}` : "";
          toast(`${data.name}: ${data.llm_provider || "server default"}${model}`, "success");
        } catch (err) {
          toast(err.message, "error");
        } finally {
          save.disabled = false;
        }
      });
      return h("tr", { dataset: { project: String(project.id) } },
        h("td", {}, project.name), h("td", {}, select), h("td", {}, modelInput), h("td", {}, save),
        h("td", {}, projectTools(project, (data) => state.projects.set(data.id, data))));
    }),
  );
  $("#projects-empty").hidden = state.projects.size > 0;
}
