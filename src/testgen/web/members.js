// A project's members (project admins): list them, add one by email with a role, change a role,
// remove one. The members' names also say who approved a saved test case (`memberNames`).
import { refreshAccount } from "./account.js";
import { api } from "./api.js";
import { confirmDelete } from "./confirm.js";
import { LIMITS, PROJECT_ROLES } from "./constants.js";
import { scriptDialog, report } from "./dialogs.js";
import { createElement, formField } from "./dom.js";
import { translate } from "./i18n.js";
import { inputLimits } from "./input-limits.js";
import { myUserId } from "./permissions.js";
import { toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").Member} Member
 * @typedef {import("./types.js").Project} Project
 */

/** @type {Map<number, Promise<Map<number, string>>>} project id -> its members' names by user id */
const names = new Map();

/**
 * The names of a project's members by user id (asked once per project; empty when they cannot be read).
 * @param {number} projectId
 */
export function memberNames(projectId) {
  let found = names.get(projectId);
  if (!found) {
    found = api("GET", `/projects/${projectId}/members`)
      .then(({ data }) => new Map(data.map((/** @type {Member} */ m) => [m.user_id, m.name])))
      .catch(() => new Map());
    names.set(projectId, found);
  }
  return found;
}

/**
 * A menu of the project roles, `selected` chosen.
 * @param {string} selected
 * @param {Object<string, any>} props
 */
function roleSelect(selected, props) {
  return createElement("select", props, PROJECT_ROLES.map((role) => createElement("option", { value: role, selected: role === selected }, role)));
}

/**
 * The members dialog of a project.
 * @param {Project} project
 */
export async function openMembers(project) {
  const path = `/projects/${project.id}/members`;
  const list = createElement("tbody");
  const status = createElement("span", { className: "error-text", role: "alert" });
  const refresh = async () => {
    names.delete(project.id);
    try {
      const { data } = await api("GET", path);
      list.replaceChildren(...data.map((/** @type {Member} */ member) => memberRow(project, member, refresh)));
    } catch (err) {
      status.textContent = err.message;
    }
  };
  const form = createElement(
    "form",
    { id: "member-form", className: "inline-form", autocomplete: "off" },
    createElement("label", {}, translate("members.email"),
      createElement("input", { name: "email", type: "email", required: true, ...inputLimits(LIMITS.account.member_email),
        placeholder: translate("members.email_placeholder") })),
    createElement("label", {}, translate("members.role"), roleSelect(PROJECT_ROLES[0], { name: "role" })),
    createElement("button", { type: "submit" }, translate("members.add")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    try {
      const { data } = await api("POST", path, { email: formField(form, "email").value.trim(), role: formField(form, "role").value });
      form.reset();
      toast(translate("members.added", { name: data.name, role: data.role, project: project.name }), "success");
      await refresh();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  scriptDialog(
    "members-dialog",
    translate("members.title", { project: project.name }),
    createElement("p", { className: "muted" }, translate("members.help")),
    createElement("table", { id: "members-table" },
      createElement("thead", {}, createElement("tr", {},
        createElement("th", {}, translate("users.name")), createElement("th", {}, translate("users.email")),
        createElement("th", {}, translate("members.role")),
        createElement("th", {}, createElement("span", { className: "visually-hidden" }, translate("tokens.actions"))))),
      list),
    createElement("h3", {}, translate("members.add_title")),
    form,
  );
  await refresh();
}

/**
 * @param {Project} project
 * @param {Member} member
 * @param {() => Promise<void>} refresh
 */
function memberRow(project, member, refresh) {
  const path = `/projects/${project.id}/members/${member.user_id}`;
  const status = createElement("span", { role: "status" });
  const mine = member.user_id === myUserId();
  const role = roleSelect(member.role, { className: "member-role", "aria-label": translate("members.role_of", { name: member.name }) });
  role.addEventListener("change", async () => {
    try {
      await api("PATCH", path, { role: role.value });
      member.role = role.value;
      report(status, translate("members.role_changed"), true);
      if (mine) refreshAccount(); // the caller's own role: what the page offers follows it
    } catch (err) {
      role.value = member.role;
      report(status, err.message, false);
    }
  });
  const remove = createElement("button", { type: "button", className: "link danger member-remove",
    "aria-label": translate("members.remove_named", { name: member.name }) }, translate("members.remove"));
  remove.addEventListener("click", async () => {
    const ok = await confirmDelete(translate("members.remove_title", { name: member.name, project: project.name }),
      translate("members.remove_text", { name: member.name }), translate("members.remove"));
    if (!ok) return;
    try {
      await api("DELETE", path);
      toast(translate("members.removed", { name: member.name }), "success");
      if (mine) refreshAccount();
      await refresh();
    } catch (err) {
      report(status, err.message, false);
    }
  });
  return createElement("tr", { dataset: { member: String(member.user_id) } },
    createElement("td", { className: "member-name" }, member.name, member.active ? null : ` ${translate("members.inactive")}`),
    createElement("td", {}, member.email),
    createElement("td", {}, role),
    createElement("td", {}, remove, " ", status));
}
