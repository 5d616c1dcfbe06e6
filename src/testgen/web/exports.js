import { describeError } from "./api.js";
import { auth } from "./auth.js";
import { EXPORT_FORMATS } from "./constants.js";
import { $, h } from "./dom.js";
import { state } from "./state.js";
import { toast } from "./toasts.js";

// --- exports ------------------------------------------------------------------------------------------
export function formatSelect(className, label = "Export format") {
  return h(
    "select",
    { className, "aria-label": label },
    EXPORT_FORMATS.map(([value, label]) => h("option", { value }, label)),
  );
}

/** Download an export through fetch (so the API key goes along), saved under the server's name. */
export async function exportFile(path, format, hint) {
  const params = new URLSearchParams({ format });
  if (format === "xray-json") {
    const guess = (hint.split("-")[0] || "").toUpperCase();
    const key = window.prompt("Jira project key for the Xray tests", /^[A-Z][A-Z0-9_]*$/.test(guess) ? guess : "");
    if (!key) return;
    params.set("project_key", key.trim().toUpperCase());
  }
  let response;
  try {
    response = await fetch(`${path}?${params}`, { headers: auth.headers() });
  } catch {
    toast("Export failed: cannot reach the testgen server", "error");
    return;
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    toast(`Export failed: ${describeError(data, response)}`, "error", 8000);
    return;
  }
  const blob = await response.blob();
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const link = h("a", { href: URL.createObjectURL(blob), download: match ? match[1] : "export" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export function renderExportProjects() {
  const projects = [...state.projects.values()];
  for (const select of [$("#export-project"), $("#jira-project"), $("#generate-project")]) {
    const previous = select.value;
    select.replaceChildren(...projects.map((p) => h("option", { value: String(p.id) }, p.name)));
    if (state.projects.has(Number(previous))) select.value = previous;
  }
  $("#export-project-button").disabled = !projects.length;
  $("#generate-project-button").disabled = !projects.length;
}
