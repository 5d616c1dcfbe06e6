// The page's address: which story is open and how the list is filtered live in the URL's query
// (?story=US-1, ?q=&project=&state=&page=), so a reload, a link and back/forward show the same thing.
/** @typedef {import("./types.js").Route} Route */

const KEYS = /** @type {const} */ (["story", "q", "project", "state", "page"]);
/** @type {((route: Route) => void)[]} */
const listeners = [];

/**
 * What the URL asks for: { story, q, project, state, page } (strings; page a number from 1).
 * @returns {Route}
 */
export function currentRoute() {
  const params = new URLSearchParams(window.location.search);
  const value = (/** @type {string} */ key) => params.get(key) || "";
  return {
    story: value("story"),
    q: value("q"),
    project: value("project"),
    state: value("state"),
    page: Math.max(1, Number.parseInt(value("page"), 10) || 1),
  };
}

/**
 * Change the URL (a new history entry unless `replace`) and tell the listeners.
 * @param {Partial<Route>} changes
 * @param {{ replace?: boolean }} [how]
 */
export function navigate(changes, { replace = false } = {}) {
  const route = { ...currentRoute(), ...changes };
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = route[key];
    if (value && !(key === "page" && Number(value) === 1)) params.set(key, String(value));
  }
  const query = params.toString();
  const url = `${window.location.pathname}${query ? `?${query}` : ""}`;
  if (url !== `${window.location.pathname}${window.location.search}`) {
    if (replace) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
  }
  for (const listener of listeners) listener(currentRoute());
}

/**
 * The URL of a story's view, for links (opened in place by `navigate`).
 * @param {string} storyId
 */
export function storyHref(storyId) {
  return `${window.location.pathname}?story=${encodeURIComponent(storyId)}`;
}

/** @param {(route: Route) => void} listener */
export function onRoute(listener) {
  listeners.push(listener);
}

window.addEventListener("popstate", () => {
  for (const listener of listeners) listener(currentRoute());
});
