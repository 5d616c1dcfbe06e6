// Exports: the format menus and the downloads (through fetch, so that the API key goes along).
import { translate } from "./i18n.js";
import { describeError } from "./api.js";
import { authHeaders } from "./auth.js";
import { AUTOMATION_FRAMEWORKS, EXPORT_FORMATS, PROJECT_ROLE } from "./constants.js";
import { byId, createElement } from "./dom.js";
import { can, canSomewhere } from "./permissions.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

/**
 * A menu of the export formats (the first chosen).
 * @param {string} className
 * @param {string} [label]
 */
export function formatSelect(className, label = translate("page.export_format")) {
  return createElement(
    "select",
    { className, "aria-label": label },
    EXPORT_FORMATS.map((format) => createElement("option", { value: format.value }, format.label)),
  );
}

/**
 * A menu of the frameworks of automation skeletons (the first chosen).
 * @param {string} className
 * @param {string} label
 */
export function frameworkSelect(className, label) {
  return createElement(
    "select",
    { className, "aria-label": label },
    AUTOMATION_FRAMEWORKS.map((choice) => createElement("option", { value: choice.value }, choice.label)),
  );
}

/**
 * Download the automation skeleton of a story or a project (`path`: its …/test-cases/automation):
 * the feature files and the framework's step definitions, in a zip.
 * @param {string} path
 * @param {string} framework
 */
export function automationFile(path, framework) {
  return download(`${path}?${new URLSearchParams({ framework })}`);
}

/**
 * Download an export, saved under the server's name. A format that needs the Jira project asks for
 * its key, guessed from `hint` (a story id such as SHOP-1, or a project's name).
 * @param {string} path
 * @param {string} format
 * @param {string} hint
 */
export async function exportFile(path, format, hint) {
  const params = new URLSearchParams({ format });
  if (EXPORT_FORMATS.find((choice) => choice.value === format)?.needs_project_key) {
    const guess = (hint.split("-")[0] || "").toUpperCase();
    const key = window.prompt(translate("export.xray_key"), /^[A-Z][A-Z0-9_]*$/.test(guess) ? guess : "");
    if (!key) return;
    params.set("project_key", key.trim().toUpperCase());
  }
  await download(`${path}?${params}`);
}

/**
 * Fetch a file (with the credential) and save it under the server's name.
 * @param {string} url
 */
export async function download(url) {
  let response;
  try {
    response = await fetch(url, { headers: authHeaders() });
  } catch {
    toast(translate("export.unreachable"), "error");
    return;
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    toast(translate("export.failed", { error: describeError(data, response) }), "error", 8000);
    return;
  }
  const blob = await response.blob();
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = createElement("a", { href: URL.createObjectURL(blob), download: match ? match[1] : "export" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/**
 * The project menus of the list's head: export (every project), Jira import and generate for all (the
 * projects where the caller is an editor; not offered to those who are an editor nowhere).
 */
export function renderExportProjects() {
  const projects = [...state.projects.values()];
  const editable = projects.filter((p) => can(p.id, PROJECT_ROLE.editor));
  for (const [id, offered] of /** @type {const} */ ([["export-project", projects], ["jira-project", editable], ["generate-project", editable]])) {
    const select = byId(id, HTMLSelectElement);
    const previous = select.value;
    select.replaceChildren(...offered.map((p) => createElement("option", { value: String(p.id) }, p.name)));
    if (offered.some((p) => String(p.id) === previous)) select.value = previous;
  }
  byId("export-project-button", HTMLButtonElement).disabled = !projects.length;
  byId("automation-project-button", HTMLButtonElement).disabled = !projects.length;
  byId("generate-project-button", HTMLButtonElement).disabled = !editable.length;
  const editor = canSomewhere(PROJECT_ROLE.editor);
  for (const part of document.querySelectorAll(".generate-project, #jira-open")) part.classList.toggle("not-allowed", !editor);
}
