// The API key: kept, sent, and asked for. When the server has API_KEYS set it answers 401; the page
// then asks for a key, keeps it in sessionStorage (this tab only) and sends it as `Authorization:
// Bearer` (api.js also trades it for the short-lived stream tokens EventSource needs).
import { byId, formField } from "./dom.js";

const STORAGE_KEY = "testgen.apiKey";

/** The key this tab uses ("" when none). */
export function apiKey() {
  return sessionStorage.getItem(STORAGE_KEY) || "";
}

/** @param {string} key  "" forgets it */
export function setApiKey(key) {
  if (key) sessionStorage.setItem(STORAGE_KEY, key);
  else sessionStorage.removeItem(STORAGE_KEY);
  byId("key-button").hidden = !key;
}

/** @returns {Record<string, string>} */
export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** @type {Promise<void> | null} one prompt shared by every request that got a 401 */
let keyPrompt = null;

/**
 * Ask for a key (`message` says why) until one is given; resolves once it is kept.
 * @param {string} message
 * @returns {Promise<void>}
 */
export function askForKey(message) {
  if (!keyPrompt) {
    keyPrompt = new Promise((resolve) => {
      const dialog = byId("key-dialog", HTMLDialogElement);
      const form = byId("key-form", HTMLFormElement);
      byId("key-error").textContent = message || "";
      formField(form, "key").value = "";
      form.onsubmit = (event) => {
        event.preventDefault();
        const key = formField(form, "key").value.trim();
        if (!key) return;
        setApiKey(key);
        dialog.close();
        keyPrompt = null;
        resolve();
      };
      dialog.oncancel = (event) => event.preventDefault(); // nothing works without a key
      if (!dialog.open) dialog.showModal();
    });
  }
  return keyPrompt;
}
