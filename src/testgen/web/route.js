// The page's address: which story is open and how the list is filtered live in the URL's query
// (?story=US-1, ?q=&project=&state=&page=), so a reload, a link and back/forward show the same thing.
const KEYS = ["story", "q", "project", "state", "page"];
const listeners = [];

/** What the URL asks for: { story, q, project, state, page } (strings; page a number from 1). */
export function currentRoute() {
  const params = new URLSearchParams(window.location.search);
  const route = Object.fromEntries(KEYS.map((key) => [key, params.get(key) || ""]));
  route.page = Math.max(1, Number.parseInt(route.page, 10) || 1);
  return route;
}

/** Change the URL (a new history entry unless `replace`) and tell the listeners. */
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

/** The URL of a story's view, for links (opened in place by `navigate`). */
export function storyHref(storyId) {
  return `${window.location.pathname}?story=${encodeURIComponent(storyId)}`;
}

export function onRoute(listener) {
  listeners.push(listener);
}

window.addEventListener("popstate", () => {
  for (const listener of listeners) listener(currentRoute());
});
