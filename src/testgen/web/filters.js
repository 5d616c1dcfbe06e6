// The story list's search, filters and pager. They only change the URL; the list follows the URL.
import { translate } from "./i18n.js";
import { STORY_PAGE, STORY_STATES } from "./constants.js";
import { byId, createElement, formField } from "./dom.js";
import { currentRoute, navigate } from "./route.js";
import { state } from "./state.js";

const SEARCH_DELAY_MS = 250; // typing pauses this long before the list is asked for again
/** @type {number | undefined} */
let searchTimer;

const form = () => byId("filters", HTMLFormElement);

export function renderFilterProjects() {
  const select = formField(form(), "project");
  const projects = [...state.projects.values()];
  select.replaceChildren(
    createElement("option", { value: "" }, translate("page.all_projects")),
    ...projects.map((p) => createElement("option", { value: String(p.id) }, p.name)),
  );
  select.value = currentRoute().project;
}

/**
 * The filter fields as the URL says (after a reload or back/forward).
 * @param {import("./types.js").Route} route
 */
export function syncFilters(route) {
  const f = form();
  if (document.activeElement !== formField(f, "q")) formField(f, "q").value = route.q;
  formField(f, "project").value = route.project;
  if (formField(f, "project").value !== route.project) formField(f, "project").value = "";
  formField(f, "state").value = route.state;
}

export function renderPager() {
  const query = state.listQuery;
  const pages = Math.max(1, Math.ceil(state.total / STORY_PAGE));
  const page = query ? query.page : 1;
  const first = state.total ? (page - 1) * STORY_PAGE + 1 : 0;
  const last = (page - 1) * STORY_PAGE + state.stories.length;
  const formatCount = (/** @type {number} */ value) => value.toLocaleString("en");
  byId("page-info").textContent = translate("filters.page_info", {
    first: formatCount(first), last: formatCount(last), total: formatCount(state.total),
  });
  byId("page-prev", HTMLButtonElement).disabled = page <= 1;
  byId("page-next", HTMLButtonElement).disabled = page >= pages;
}

export function initFilters() {
  const f = form();
  formField(f, "state").append(...STORY_STATES.map(([value, label]) => createElement("option", { value }, label)));
  f.addEventListener("submit", (event) => event.preventDefault());
  formField(f, "q").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => navigate({ q: formField(f, "q").value, page: 1 }, { replace: true }), SEARCH_DELAY_MS);
  });
  for (const name of /** @type {const} */ (["project", "state"])) {
    formField(f, name).addEventListener("change", () => navigate({ [name]: formField(f, name).value, page: 1 }));
  }
  byId("page-prev").addEventListener("click", () => navigate({ page: Math.max(1, currentRoute().page - 1) }));
  byId("page-next").addEventListener("click", () => navigate({ page: currentRoute().page + 1 }));
  syncFilters(currentRoute());
}
