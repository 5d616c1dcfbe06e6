// Credentials: a signed-in session or an API key. A session's cookie goes along by itself (HTTP-only,
// same origin: event streams too); its CSRF token, kept in sessionStorage for this tab, is sent as
// `X-CSRF-Token` on every change. An API key (one of the server's API_KEYS, or a personal API token),
// kept the same way, is sent as `Authorization: Bearer` (api.js also trades it for the short-lived
// stream tokens EventSource needs). A 401 opens the sign-in dialog, which offers both: email and
// password (or single sign-on, when the server has it), and an API key.
import { LIMITS } from "./constants.js";
import { byId, createElement, formField } from "./dom.js";
import { emit } from "./events.js";
import { translate } from "./i18n.js";
import { inputLimits } from "./input-limits.js";

const KEY_STORAGE = "testgen.apiKey";
const CSRF_STORAGE = "testgen.csrf";
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
// Single sign-on starts here and comes back to the page (the server checks where `next` goes).
export const SSO_LOGIN = "/auth/oidc/login?next=/";

/** @type {import("./types.js").AuthConfig} how one signs in here (GET /auth/config) */
export const signInWays = { sign_in_required: false, password_sign_in: true, oidc: false };

/** @param {import("./types.js").AuthConfig} config */
export function setSignInWays(config) {
  Object.assign(signInWays, config);
}

/** The key this tab uses ("" when none). */
export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

/** @param {string} key  "" forgets it */
export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  byId("key-button").hidden = !key;
}

/** The CSRF token of this tab's session ("" when not signed in by cookie). */
export function csrfToken() {
  return sessionStorage.getItem(CSRF_STORAGE) || "";
}

/** @param {string} token  "" forgets it (signed out, or the session ended) */
export function setCsrfToken(token) {
  if (token) sessionStorage.setItem(CSRF_STORAGE, token);
  else sessionStorage.removeItem(CSRF_STORAGE);
}

/**
 * The headers that carry this tab's credential for a request of `method`.
 * @param {string} [method]
 * @returns {Record<string, string>}
 */
export function authHeaders(method = "GET") {
  /** @type {Record<string, string>} */
  const headers = {};
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const csrf = csrfToken();
  if (csrf && STATE_CHANGING.has(method.toUpperCase())) headers["X-CSRF-Token"] = csrf;
  return headers;
}

/**
 * @callback SignIn  posts the email and password and keeps the session; throws the server's message
 * @param {string} email
 * @param {string} password
 * @returns {Promise<void>}
 */

/** @type {Promise<void> | null} one prompt shared by every request that got a 401 */
let prompt = null;

/**
 * The dialog's sign-in part (built once, before the key form): email and password, single sign-on.
 * @param {HTMLDialogElement} dialog
 */
function signInPart(dialog) {
  const found = document.getElementById("sign-in-part");
  if (found) return found;
  const email = createElement("input", {
    name: "email", type: "email", required: true, autocomplete: "username", ...inputLimits(LIMITS.account.sign_in_email),
    "aria-label": translate("account.email"), placeholder: translate("account.email"),
  });
  const password = createElement("input", {
    name: "password", type: "password", required: true, autocomplete: "current-password",
    ...inputLimits(LIMITS.account.sign_in_password), "aria-label": translate("account.password"), placeholder: translate("account.password"),
  });
  const part = createElement(
    "div",
    { id: "sign-in-part" },
    createElement("h2", { id: "sign-in-title" }, translate("account.sign_in_title")),
    createElement(
      "form",
      { id: "sign-in-form", className: "sign-in-form", autocomplete: "on" },
      createElement("label", {}, translate("account.email"), email),
      createElement("label", {}, translate("account.password"), password),
      createElement("div", { className: "dialog-foot" },
        createElement("span", { id: "sign-in-error", className: "error-text", role: "alert" }),
        createElement("span", { className: "spacer" }),
        createElement("button", { type: "submit", className: "primary", id: "sign-in-button" }, translate("account.sign_in"))),
    ),
    createElement("p", { id: "sso-part", className: "sso" },
      createElement("a", { id: "sso-link", href: SSO_LOGIN }, translate("account.sso"))),
    createElement("p", { className: "muted or-key" }, translate("account.or_key")),
  );
  dialog.prepend(part);
  dialog.setAttribute("aria-labelledby", "sign-in-title");
  return part;
}

/**
 * Ask for a credential until one is given: a sign-in that the server accepted, or an API key to try.
 * `why` says why by the key (it was refused) or by the sign-in form (the session ended). Resolves
 * once one is kept; the page is then told (`credentialChanged`).
 * @param {{ key?: string, session?: string }} why
 * @param {SignIn} signIn
 * @returns {Promise<void>}
 */
export function askForCredential(why, signIn) {
  if (!prompt) {
    prompt = new Promise((resolve) => {
      const dialog = byId("key-dialog", HTMLDialogElement);
      const keyForm = byId("key-form", HTMLFormElement);
      const part = signInPart(dialog);
      const offered = signInWays.password_sign_in || signInWays.oidc;
      part.hidden = !offered;
      byId("sign-in-form").hidden = !signInWays.password_sign_in;
      byId("sso-part").hidden = !signInWays.oidc;
      dialog.setAttribute("aria-labelledby", offered ? "sign-in-title" : "key-title");
      const done = () => {
        dialog.close();
        prompt = null;
        resolve();
        emit("credentialChanged");
      };
      byId("key-error").textContent = why.key || "";
      byId("sign-in-error").textContent = why.session || "";
      formField(keyForm, "key").value = "";
      keyForm.onsubmit = (event) => {
        event.preventDefault();
        const key = formField(keyForm, "key").value.trim();
        if (!key) return;
        setApiKey(key);
        done();
      };
      const signInForm = byId("sign-in-form", HTMLFormElement);
      formField(signInForm, "password").value = "";
      signInForm.onsubmit = async (event) => {
        event.preventDefault();
        const button = byId("sign-in-button", HTMLButtonElement);
        button.disabled = true;
        byId("sign-in-error").textContent = "";
        try {
          await signIn(formField(signInForm, "email").value.trim(), formField(signInForm, "password").value);
          setApiKey(""); // the session is the credential now (a bearer key would win over it)
          done();
        } catch (err) {
          byId("sign-in-error").textContent = err.message;
        } finally {
          button.disabled = false;
        }
      };
      dialog.oncancel = (event) => event.preventDefault(); // nothing works without a credential
      if (!dialog.open) dialog.showModal();
      const first = offered && signInWays.password_sign_in ? formField(signInForm, "email") : formField(keyForm, "key");
      if (!first.value) first.focus();
    });
  }
  return prompt;
}
