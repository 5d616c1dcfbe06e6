// The caller's account: who is asking (GET /auth/me, asked at start and after a new credential), the
// user menu of the top bar (the user's name; API tokens; Users for server admins; Sign out) and its
// dialogs. A new caller's roles emit `accountChanged`: what the page offers follows them.
import { api, signOut } from "./api.js";
import { apiKey, csrfToken, setApiKey, setCsrfToken, setSignInWays } from "./auth.js";
import { confirmDelete } from "./confirm.js";
import { LIMITS } from "./constants.js";
import { report, scriptDialog, when } from "./dialogs.js";
import { byId, createElement, formField } from "./dom.js";
import { emit } from "./events.js";
import { translate } from "./i18n.js";
import { inputLimits } from "./input-limits.js";
import { account, isServerAdmin, setMe } from "./permissions.js";
import { toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").Me} Me
 * @typedef {import("./types.js").ApiToken} ApiToken
 * @typedef {import("./types.js").User} User
 */

/**
 * Who a `me` answer is, to tell whether another caller took over the tab.
 * @param {Me | null} me
 */
const identity = (me) => (me ? `${me.kind}:${me.user ? me.user.id : ""}:${me.is_admin}` : "");

/**
 * How one signs in here, then who is asking: a 401 opens the sign-in dialog (api.js) and asks again.
 * A session's answer carries its CSRF token, so a reload keeps working.
 */
export async function startAccount() {
  const { data: config } = await api("GET", "/auth/config");
  setSignInWays(config);
  await loadMe();
}

async function loadMe() {
  /** @type {{ data: Me }} */
  const { data: me } = await api("GET", "/auth/me");
  if (me.csrf_token) setCsrfToken(me.csrf_token);
  setMe(me);
  renderUserMenu();
  emit("accountChanged");
}

/** After a sign-in or a new key: another caller shows the page afresh, the same one goes on. */
export async function credentialChanged() {
  const before = identity(account.me);
  if (!account.me) return; // the start asks on its own
  try {
    const { data: me } = await api("GET", "/auth/me");
    if (identity(me) !== before) {
      location.reload();
      return;
    }
    if (me.csrf_token) setCsrfToken(me.csrf_token);
    setMe(me);
    emit("accountChanged");
  } catch (err) {
    toast(err.message, "error");
  }
}

/** The caller's roles again (after their memberships changed). */
export function refreshAccount() {
  loadMe().catch((err) => toast(err.message, "error"));
}

/** The caller's name as the top bar shows it. */
function displayName() {
  const me = account.me;
  if (!me) return "";
  if (me.user) return me.user.name;
  return me.kind === "service" ? translate("account.service") : translate("account.local");
}

/**
 * A menu entry.
 * @param {string} id
 * @param {string} label
 * @param {() => void} action
 */
function entry(id, label, action) {
  return createElement("button", { type: "button", id, className: "link", role: "menuitem", onclick: () => {
    byId("user-menu", HTMLDetailsElement).open = false;
    action();
  } }, label);
}

// A click elsewhere closes the open user menu.
document.addEventListener("click", (event) => {
  const menu = document.getElementById("user-menu");
  if (menu instanceof HTMLDetailsElement && menu.open && !menu.contains(/** @type {Node} */ (event.target))) menu.open = false;
});

export function renderUserMenu() {
  const me = account.me;
  const place = byId("account");
  if (!me) {
    place.replaceChildren();
    return;
  }
  const items = [
    me.user ? entry("menu-tokens", translate("account.tokens"), openTokens) : null,
    isServerAdmin() ? entry("menu-users", translate("account.users"), openUsers) : null,
    csrfToken() ? entry("menu-sign-out", translate("account.sign_out"), () => leave()) : null,
    apiKey() ? entry("menu-forget-key", translate("account.forget_key"), () => forgetKey()) : null,
  ].filter(Boolean);
  const summary = createElement("summary", { id: "user-name", title: me.user ? me.user.email : "" }, displayName());
  place.replaceChildren(
    items.length
      ? createElement("details", { id: "user-menu", className: "user-menu" }, summary,
        createElement("div", { className: "menu", role: "menu", "aria-label": translate("account.menu") }, items))
      : createElement("span", { id: "user-name", className: "user-name" }, displayName()),
  );
}

async function leave() {
  try {
    await signOut();
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  location.reload();
}

function forgetKey() {
  setApiKey("");
  location.reload();
}

// --- API tokens -----------------------------------------------------------------------------------

async function openTokens() {
  const list = createElement("tbody");
  const status = createElement("span", { className: "error-text", role: "alert" });
  const name = createElement("input", { name: "name", required: true, ...inputLimits(LIMITS.account.token_name),
    placeholder: translate("tokens.name_placeholder"), "aria-label": translate("tokens.name") });
  const created = createElement("div", { id: "token-created", className: "token-created", hidden: true });
  const form = createElement(
    "form",
    { id: "token-form", className: "inline-form", autocomplete: "off" },
    createElement("label", {}, translate("tokens.name"), name),
    createElement("button", { type: "submit" }, translate("tokens.create")),
    status,
  );
  const refresh = async () => {
    try {
      const { data } = await api("GET", "/auth/tokens");
      list.replaceChildren(...data.map((/** @type {ApiToken} */ token) => tokenRow(token, refresh)));
      if (!data.length) list.append(createElement("tr", {}, createElement("td", { colSpan: 5, className: "muted" }, translate("tokens.none"))));
    } catch (err) {
      status.textContent = err.message;
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    try {
      /** @type {{ data: ApiToken }} */
      const { data } = await api("POST", "/auth/tokens", { name: name.value.trim() });
      form.reset();
      showNewToken(created, data);
      await refresh();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  scriptDialog(
    "tokens-dialog",
    translate("tokens.title"),
    createElement("p", { className: "muted" }, translate("tokens.help")),
    createElement("table", { id: "tokens-table" },
      createElement("thead", {}, createElement("tr", {},
        createElement("th", {}, translate("tokens.name")), createElement("th", {}, translate("tokens.prefix")),
        createElement("th", {}, translate("tokens.created")), createElement("th", {}, translate("tokens.last_used")),
        createElement("th", {}, createElement("span", { className: "visually-hidden" }, translate("tokens.actions"))))),
      list),
    created,
    form,
  );
  await refresh();
}

/**
 * @param {ApiToken} token
 * @param {() => Promise<void>} refresh
 */
function tokenRow(token, refresh) {
  const revoke = createElement("button", { type: "button", className: "link danger token-revoke",
    "aria-label": translate("tokens.revoke_named", { name: token.name }) }, translate("tokens.revoke"));
  revoke.addEventListener("click", async () => {
    const ok = await confirmDelete(translate("tokens.revoke_title", { name: token.name }), translate("tokens.revoke_text"), translate("tokens.revoke"));
    if (!ok) return;
    try {
      await api("DELETE", `/auth/tokens/${token.id}`);
      toast(translate("tokens.revoked", { name: token.name }), "success");
      await refresh();
    } catch (err) {
      toast(err.message, "error");
    }
  });
  return createElement("tr", { dataset: { token: String(token.id) } },
    createElement("td", { className: "token-name" }, token.name),
    createElement("td", { className: "token-prefix" }, createElement("code", {}, `${token.prefix}…`)),
    createElement("td", {}, when(token.created_at)),
    createElement("td", { className: "token-last-use" }, token.last_used_at ? when(token.last_used_at) : translate("tokens.never_used")),
    createElement("td", {}, revoke));
}

/**
 * The token just created, shown this once, with a copy button.
 * @param {HTMLElement} box
 * @param {ApiToken} token
 */
function showNewToken(box, token) {
  const field = createElement("input", { id: "new-token", readOnly: true, value: token.token ?? "", "aria-label": translate("tokens.new_token"),
    className: "token-value" });
  const copy = createElement("button", { type: "button", id: "copy-token" }, translate("tokens.copy"));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      toast(translate("tokens.copied"), "success");
    } catch {
      field.select(); // the browser refused: the reader copies the selection
      toast(translate("tokens.copy_by_hand"), "info");
    }
  });
  box.replaceChildren(
    createElement("p", {}, createElement("strong", {}, translate("tokens.shown_once", { name: token.name }))),
    createElement("div", { className: "inline-form" }, field, copy),
  );
  box.hidden = false;
  field.select();
}

// --- users (server admins) ------------------------------------------------------------------------

async function openUsers() {
  const list = createElement("tbody");
  const status = createElement("span", { className: "error-text", role: "alert" });
  const field = (/** @type {string} */ name, /** @type {string} */ label, /** @type {Object<string, any>} */ props) =>
    createElement("input", { name, "aria-label": label, placeholder: label, ...props });
  const form = createElement(
    "form",
    { id: "user-form", className: "inline-form wrap", autocomplete: "off" },
    createElement("label", {}, translate("users.email"), field("email", translate("users.email"), { type: "email", required: true, ...inputLimits(LIMITS.account.email) })),
    createElement("label", {}, translate("users.name"), field("name", translate("users.name"), { required: true, ...inputLimits(LIMITS.account.name) })),
    createElement("label", {}, translate("users.password"), field("password", translate("users.password"), { type: "password", autocomplete: "new-password",
      ...inputLimits(LIMITS.account.password), title: translate("users.password_help", { min: LIMITS.account.password.min_length ?? "" }), placeholder: translate("users.password_optional") })),
    createElement("label", { className: "check" }, createElement("input", { type: "checkbox", name: "is_admin" }), translate("users.is_admin")),
    createElement("button", { type: "submit" }, translate("users.create")),
    status,
  );
  const refresh = async () => {
    try {
      const { data } = await api("GET", `/users?limit=${LIMITS.lists.users_page.maximum}`);
      list.replaceChildren(...data.map((/** @type {User} */ user) => userRow(user, refresh)));
    } catch (err) {
      status.textContent = err.message;
    }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const value = (/** @type {string} */ name) => formField(form, name).value;
    /** @type {Record<string, string | boolean>} */
    const body = { email: value("email").trim(), name: value("name").trim(),
      is_admin: /** @type {HTMLInputElement} */ (formField(form, "is_admin")).checked };
    if (value("password")) body.password = value("password");
    try {
      const { data } = await api("POST", "/users", body);
      form.reset();
      toast(translate("users.created", { email: data.email }), "success");
      await refresh();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  scriptDialog(
    "users-dialog",
    translate("users.title"),
    createElement("table", { id: "users-table" },
      createElement("thead", {}, createElement("tr", {},
        createElement("th", {}, translate("users.name")), createElement("th", {}, translate("users.email")),
        createElement("th", {}, translate("users.is_admin")), createElement("th", {}, translate("users.state")),
        createElement("th", {}, createElement("span", { className: "visually-hidden" }, translate("tokens.actions"))))),
      list),
    createElement("h3", {}, translate("users.add")),
    form,
  );
  await refresh();
}

/**
 * A user's row: server admin or not, deactivate or reactivate, a new password.
 * @param {User} user
 * @param {() => Promise<void>} refresh
 */
function userRow(user, refresh) {
  const status = createElement("span", { role: "status" });
  /** @param {Record<string, string | boolean>} changes @param {string} done */
  const change = async (changes, done) => {
    try {
      await api("PATCH", `/users/${user.id}`, changes);
      toast(done, "success");
      await refresh();
    } catch (err) {
      report(status, err.message, false);
    }
  };
  const admin = createElement("input", { type: "checkbox", className: "user-admin", checked: user.is_admin,
    "aria-label": translate("users.is_admin_of", { name: user.name }) });
  admin.addEventListener("change", () => change({ is_admin: admin.checked }, translate("users.updated", { name: user.name })));
  const toggle = createElement("button", { type: "button", className: user.active ? "link danger user-deactivate" : "link user-reactivate" },
    user.active ? translate("users.deactivate") : translate("users.reactivate"));
  toggle.addEventListener("click", () => change({ active: !user.active },
    translate(user.active ? "users.deactivated" : "users.reactivated", { name: user.name })));
  const password = createElement("input", { type: "password", className: "user-password", autocomplete: "new-password", required: true,
    ...inputLimits(LIMITS.account.password), placeholder: translate("users.new_password"), "aria-label": translate("users.new_password_of", { name: user.name }) });
  const reset = createElement("form", { className: "inline-form user-reset", hidden: true },
    password, createElement("button", { type: "submit" }, translate("users.set_password")));
  reset.addEventListener("submit", (event) => {
    event.preventDefault();
    change({ password: password.value }, translate("users.password_set", { name: user.name }));
  });
  const resetButton = createElement("button", { type: "button", className: "link user-reset-open", onclick: () => {
    reset.hidden = !reset.hidden;
    if (!reset.hidden) password.focus();
  } }, translate("users.reset_password"));
  return createElement("tr", { dataset: { user: String(user.id) } },
    createElement("td", { className: "user-name" }, user.name),
    createElement("td", {}, user.email),
    createElement("td", {}, admin),
    createElement("td", { className: "user-state" }, user.active ? translate("users.active") : translate("users.inactive")),
    createElement("td", {}, toggle, " ", resetButton, reset, status));
}
