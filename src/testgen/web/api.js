// The API: fetch with this tab's credential (auth.js), errors as ApiError with the server's message,
// sign-in, and the URL of an event stream with the credential EventSource needs.
import { translate } from "./i18n.js";
import { apiKey, askForCredential, authHeaders, csrfToken, setCsrfToken } from "./auth.js";

export class ApiError extends Error {
  /**
   * @param {number} status  the HTTP status (0: the server could not be reached)
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * The server's explanation of a failed request, in one line.
 * @param {any} data  the answer's JSON body, if any
 * @param {Response} response
 */
export function describeError(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => `${(d.loc || []).filter((/** @type {string} */ p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `${response.status} ${response.statusText}`.trim();
}

/**
 * One request with this tab's credential (0: the server could not be reached).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]  sent as JSON (a FormData: as multipart, an upload)
 */
async function send(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", ...authHeaders(method) };
  /** @type {RequestInit} */
  const init = { method, headers };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, translate("api.unreachable"));
  }
}

/**
 * The answer's JSON, or an ApiError with the server's message.
 * @param {Response} response
 * @returns {Promise<{ status: number, data: any, response: Response }>}
 */
async function answer(response) {
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, describeError(data, response));
  return { status: response.status, data, response };
}

/** Why a request was refused (401), said by the credential that was: a key, or an ended session. */
function refusal() {
  if (apiKey()) return { key: translate("api.key_refused") };
  if (csrfToken()) {
    setCsrfToken("");
    return { session: translate("account.session_ended") };
  }
  return {};
}

/**
 * fetch with this tab's credential; a 401 asks for one (sign in, or an API key) and tries again.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]  sent as JSON
 * @returns {Promise<{ status: number, data: any, response: Response }>}
 */
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const response = await send(method, path, body);
    if (response.status === 401 && attempt < 5) {
      await askForCredential(refusal(), signIn);
      continue;
    }
    return answer(response);
  }
}

/**
 * Sign in with email and password (POST /auth/login): the server sets the session cookie; its CSRF
 * token is kept for this tab. A refusal (401, 429) throws the server's message.
 * @param {string} email
 * @param {string} password
 */
export async function signIn(email, password) {
  const { data } = await answer(await send("POST", "/auth/login", { email, password }));
  setCsrfToken(data.csrf_token);
}

/** Sign out (POST /auth/logout): the session ends on the server, and its CSRF token here. */
export async function signOut() {
  try {
    await api("POST", "/auth/logout");
  } finally {
    setCsrfToken("");
  }
}

// EventSource cannot send headers: with a key, the stream's URL carries a short-lived token from
// POST /auth/stream-token in `?access_token=`, asked again shortly before it expires or when the
// key changes.
/** @type {{ token: string, expiresAt: number, key: string } | null} */
let streamToken = null;

/**
 * The URL of an event stream, with whatever credential EventSource needs.
 * @param {string} path
 * @param {URLSearchParams} params
 */
export async function streamUrl(path, params) {
  const key = apiKey();
  if (key) {
    const now = Date.now();
    if (!streamToken || streamToken.key !== key || streamToken.expiresAt - 30_000 < now) {
      streamToken = null;
      try {
        const { data } = await api("POST", "/auth/stream-token");
        streamToken = { token: data.token, expiresAt: now + data.expires_in * 1000, key: apiKey() };
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err; // a server without stream tokens: try without
      }
    }
    if (streamToken) params.set("access_token", streamToken.token);
  }
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}
