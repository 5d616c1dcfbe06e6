// The API: fetch with the API key, errors as ApiError with the server's message, and the URL of an
// event stream with the credential EventSource needs.
import { translate } from "./i18n.js";
import { apiKey, askForKey, authHeaders } from "./auth.js";

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
 * fetch with the API key; a 401 asks for a key and tries again.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]  sent as JSON
 * @returns {Promise<{ status: number, data: any, response: Response }>}
 */
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json", ...authHeaders() };
    /** @type {RequestInit} */
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, translate("api.unreachable"));
    }
    if (response.status === 401 && attempt < 5) {
      await askForKey(apiKey() ? translate("api.key_refused") : "");
      continue;
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, describeError(data, response));
    return { status: response.status, data, response };
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
