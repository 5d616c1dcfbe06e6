// A project's connections to test-management tools and Jira (project admins): list them, add one (a
// form per kind: its settings and secrets from the server's table), change one (a secret left empty
// keeps its value), delete one, and try one's credentials against its tool. Secrets are typed into
// password inputs and never shown: the server answers only which are stored.
import { api } from "./api.js";
import { confirmDelete } from "./confirm.js";
import { CONNECTION_KINDS, LIMITS } from "./constants.js";
import { report, scriptDialog } from "./dialogs.js";
import { createElement, formField } from "./dom.js";
import { translate } from "./i18n.js";
import { inputLimits } from "./input-limits.js";
import { toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").Connection} Connection
 * @typedef {import("./types.js").ConnectionField} ConnectionField
 * @typedef {import("./types.js").ConnectionKindChoice} ConnectionKindChoice
 * @typedef {import("./types.js").ConnectionTest} ConnectionTest
 * @typedef {import("./types.js").Project} Project
 */

/**
 * A kind of connection as the server describes it (undefined: one this page was not told of).
 * @param {string} kind
 */
export function kindOf(kind) {
  return CONNECTION_KINDS.find((choice) => choice.kind === kind);
}

/**
 * A kind's name in menus.
 * @param {string} kind
 */
export function kindLabel(kind) {
  return kindOf(kind)?.label ?? kind;
}

/**
 * A setting's or a secret's name as a form shows it.
 * @param {string} name
 */
function fieldLabel(name) {
  return translate(`connection_field.${name}`);
}

/**
 * The connections of a project (GET …/connections), by name.
 * @param {number} projectId
 * @returns {Promise<Connection[]>}
 */
export async function listConnections(projectId) {
  const { data } = await api("GET", `/projects/${projectId}/connections`);
  return data;
}

/**
 * The connections dialog of a project.
 * @param {Project} project
 */
export async function openConnections(project) {
  const path = `/projects/${project.id}/connections`;
  const list = createElement("tbody");
  const empty = createElement("p", { className: "muted", hidden: true }, translate("connections.empty"));
  const status = createElement("span", { className: "error-text", role: "alert" });
  const editor = createElement("div", { id: "connection-editor" });
  const refresh = async () => {
    status.textContent = "";
    try {
      const connections = await listConnections(project.id);
      list.replaceChildren(...connections.map((connection) => connectionRow(path, connection, { refresh, edit, showAdd })));
      empty.hidden = connections.length > 0;
    } catch (err) {
      status.textContent = err.message;
    }
  };
  const showAdd = () => editor.replaceChildren(connectionForm(path, null, { refresh, done: showAdd }));
  const edit = (/** @type {Connection} */ connection) => {
    editor.replaceChildren(connectionForm(path, connection, { refresh, done: showAdd }));
    formField(/** @type {HTMLFormElement} */ (editor.querySelector("form")), "name").focus();
  };
  scriptDialog(
    "connections-dialog",
    translate("connections.title", { project: project.name }),
    createElement("p", { className: "muted" }, translate("connections.help")),
    createElement("table", { id: "connections-table" },
      createElement("thead", {}, createElement("tr", {},
        createElement("th", {}, translate("connections.name")), createElement("th", {}, translate("connections.kind")),
        createElement("th", {}, translate("connections.settings")), createElement("th", {}, translate("connections.secrets")),
        createElement("th", {}, createElement("span", { className: "visually-hidden" }, translate("connections.actions"))))),
      list),
    empty,
    status,
    editor,
  );
  showAdd();
  await refresh();
}

/**
 * @param {string} path  the project's connections
 * @param {Connection} connection
 * @param {{ refresh: () => Promise<void>, edit: (c: Connection) => void, showAdd: () => void }} actions
 */
function connectionRow(path, connection, { refresh, edit, showAdd }) {
  const status = createElement("span", { className: "connection-status", role: "status" });
  const kind = kindOf(connection.kind);
  const settings = (kind ? kind.settings : [])
    .filter((field) => connection.settings[field.name] !== null && connection.settings[field.name] !== undefined)
    .map((field) => `${fieldLabel(field.name)}: ${connection.settings[field.name]}`);
  const test = createElement("button", { type: "button", className: "link connection-test",
    "aria-label": translate("connections.test_named", { name: connection.name }) }, translate("connections.test"));
  test.addEventListener("click", async () => {
    test.disabled = true;
    report(status, translate("connections.testing"), true);
    try {
      /** @type {{ data: ConnectionTest }} */
      const { data } = await api("POST", `${path}/${connection.id}/test`);
      report(status, translate(data.ok ? "connections.test_ok" : "connections.test_failed", { detail: data.detail }), data.ok);
    } catch (err) {
      report(status, err.message, false);
    } finally {
      test.disabled = false;
    }
  });
  const remove = createElement("button", { type: "button", className: "link danger connection-delete",
    "aria-label": translate("connections.delete_named", { name: connection.name }) }, translate("page.delete"));
  remove.addEventListener("click", async () => {
    const ok = await confirmDelete(translate("connections.delete_title", { name: connection.name }),
      translate("connections.delete_text", { name: connection.name }));
    if (!ok) return;
    try {
      await api("DELETE", `${path}/${connection.id}`);
      toast(translate("connections.deleted", { name: connection.name }), "success");
      showAdd();
      await refresh();
    } catch (err) {
      report(status, err.message, false);
    }
  });
  return createElement("tr", { dataset: { connection: String(connection.id) } },
    createElement("td", { className: "connection-name" }, connection.name),
    createElement("td", { className: "connection-kind" }, kindLabel(connection.kind)),
    createElement("td", { className: "connection-settings" }, settings.join(" · ")),
    createElement("td", { className: "connection-secrets" },
      translate("connections.stored", { secrets: connection.secrets_set.map(fieldLabel).join(", ") })),
    createElement("td", { className: "connection-actions" },
      test, " ",
      createElement("button", { type: "button", className: "link connection-edit", onclick: () => edit(connection),
        "aria-label": translate("connections.edit_named", { name: connection.name }) }, translate("connections.edit")),
      " ", remove, " ", status));
}

/**
 * The input of one setting: its current value when a connection is changed, its default as a hint.
 * @param {ConnectionField} field
 * @param {string | number | null | undefined} value
 */
function settingInput(field, value) {
  const common = { name: field.name, required: field.required, dataset: { setting: field.name } };
  if (field.input === "choice") {
    const chosen = value ?? field.bounds.default;
    return createElement("select", common,
      (field.choices ?? []).map((choice) => createElement("option", { value: choice, selected: choice === chosen }, choice)));
  }
  const hint = field.bounds.default ?? (field.required ? "" : translate("connections.optional"));
  return createElement("input", {
    ...common,
    ...inputLimits(field.bounds),
    type: field.input === "number" ? "number" : "text",
    value: value === null || value === undefined ? "" : String(value),
    placeholder: String(hint),
  });
}

/**
 * What a setting's input holds, as the API takes it; `undefined`: leave it out.
 * @param {ConnectionField} field
 * @param {string} raw
 * @param {boolean} creating  a new connection: an empty input takes the server's default
 * @returns {string | number | null | undefined}
 */
function settingValue(field, raw, creating) {
  const text = raw.trim();
  if (!text) {
    if (creating) return undefined;
    return field.nullable ? null : field.bounds.default;
  }
  return field.input === "number" ? Number(text) : text;
}

/**
 * The form that adds a connection (`connection` null) or changes one.
 * @param {string} path  the project's connections
 * @param {Connection | null} connection
 * @param {{ refresh: () => Promise<void>, done: () => void }} after
 */
function connectionForm(path, connection, { refresh, done }) {
  const creating = connection === null;
  const fields = createElement("div", { className: "connection-fields" });
  const status = createElement("span", { className: "error-text", role: "alert" });
  const kindSelect = createElement("select", { name: "kind", disabled: !creating },
    CONNECTION_KINDS.map((choice) => createElement("option", { value: choice.kind, selected: connection !== null && choice.kind === connection.kind }, choice.label)));
  const chosenKind = () => kindOf(kindSelect.value) ?? CONNECTION_KINDS[0];
  const showFields = () => {
    const kind = chosenKind();
    fields.replaceChildren(
      ...kind.settings.map((field) => createElement("label", {}, fieldLabel(field.name),
        settingInput(field, connection ? connection.settings[field.name] : undefined))),
      ...kind.secrets.map((name) => createElement("label", {}, fieldLabel(name),
        createElement("input", { name, type: "password", required: creating, autocomplete: "new-password",
          dataset: { secret: name }, ...inputLimits(LIMITS.connection.secret),
          placeholder: creating ? "" : translate("connections.secret_keep") }))),
    );
  };
  kindSelect.addEventListener("change", showFields);
  const form = createElement(
    "form",
    { id: "connection-form", className: "connection-form", autocomplete: "off", dataset: { mode: creating ? "add" : "edit" } },
    createElement("h3", {}, creating ? translate("connections.add_title") : translate("connections.edit_title", { name: connection.name })),
    createElement("div", { className: "grid connection-grid" },
      createElement("label", {}, translate("connections.kind"), kindSelect),
      createElement("label", {}, translate("connections.name"),
        createElement("input", { name: "name", required: true, ...inputLimits(LIMITS.connection.name), value: connection ? connection.name : "" }))),
    fields,
    creating ? null : createElement("p", { className: "muted" }, translate("connections.secret_help")),
    createElement("div", { className: "actions" },
      createElement("button", { type: "submit", className: "primary" }, creating ? translate("connections.add") : translate("connections.save")),
      creating ? null : createElement("button", { type: "button", onclick: done }, translate("connections.cancel")),
      status),
  );
  showFields();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const kind = chosenKind();
    /** @type {Record<string, string | number | null>} */
    const body = {};
    for (const field of kind.settings) {
      const value = settingValue(field, formField(form, field.name).value, creating);
      if (value === undefined) continue;
      if (!creating && connection && JSON.stringify(value) === JSON.stringify(connection.settings[field.name] ?? null)) continue;
      body[field.name] = value;
    }
    for (const name of kind.secrets) {
      const secret = formField(form, name).value;
      if (secret.trim()) body[name] = secret;
    }
    const name = formField(form, "name").value.trim();
    try {
      if (connection === null) {
        await api("POST", path, { kind: kind.kind, name, ...body });
        toast(translate("connections.added", { name }), "success");
      } else {
        if (name !== connection.name) body.name = name;
        if (Object.keys(body).length) await api("PATCH", `${path}/${connection.id}`, body);
        toast(translate("connections.saved", { name }), "success");
      }
    } catch (err) {
      status.textContent = err.message;
      return;
    }
    done();
    await refresh();
  });
  return form;
}
