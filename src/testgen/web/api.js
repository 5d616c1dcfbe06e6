// The API: fetch with the API key, errors as ApiError with the server's message.
import { askForKey, auth } from "./auth.js";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function describeError(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `${response.status} ${response.statusText}`.trim();
}

/** fetch with the API key; a 401 asks for a key and tries again. Resolves to {status, data, response}. */
export async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const init = { method, headers: { Accept: "application/json", ...auth.headers() } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, "cannot reach the testgen server; check that it is running");
    }
    if (response.status === 401 && attempt < 5) {
      await askForKey(auth.key() ? "That key was refused; try another one." : "");
      continue;
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, describeError(data, response));
    return { status: response.status, data, response };
  }
}
