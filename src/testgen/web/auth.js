// Authentication: the one place that knows how requests prove who they are.
import { api } from "./api.js";
import { $, field } from "./dom.js";

// When the server has API_KEYS set it answers 401; the page then asks for a key, keeps it in
// sessionStorage (this tab only), sends it as `Authorization: Bearer`, and, because EventSource
// cannot send headers, puts a short-lived token from POST /auth/stream-token in `?access_token=`.
export const auth = {
  storageKey: "testgen.apiKey",
  streamToken: null, // { token, expiresAt }
  key() {
    return sessionStorage.getItem(this.storageKey) || "";
  },
  setKey(key) {
    if (key) sessionStorage.setItem(this.storageKey, key);
    else sessionStorage.removeItem(this.storageKey);
    this.streamToken = null;
    $("#key-button").hidden = !key;
  },
  headers() {
    const key = this.key();
    return key ? { Authorization: `Bearer ${key}` } : {};
  },
  /** The URL of an event stream, with whatever credential EventSource needs. */
  async streamUrl(path, params) {
    if (this.key()) {
      const now = Date.now();
      if (!this.streamToken || this.streamToken.expiresAt - 30_000 < now) {
        try {
          const { data } = await api("POST", "/auth/stream-token");
          this.streamToken = { token: data.token, expiresAt: now + data.expires_in * 1000 };
        } catch (err) {
          if (err.status !== 404) throw err; // a server without stream tokens: try without
        }
      }
      if (this.streamToken) params.set("access_token", this.streamToken.token);
    }
    const query = params.toString();
    return query ? `${path}?${query}` : path;
  },
};

let keyPrompt = null; // one prompt shared by every request that got a 401

export function askForKey(message) {
  if (!keyPrompt) {
    keyPrompt = new Promise((resolve) => {
      const dialog = $("#key-dialog");
      const form = $("#key-form");
      $("#key-error").textContent = message || "";
      field(form, "key").value = "";
      form.onsubmit = (event) => {
        event.preventDefault();
        const key = field(form, "key").value.trim();
        if (!key) return;
        auth.setKey(key);
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
