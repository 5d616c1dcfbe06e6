// The story list's search, filters and pager. They only change the URL; the list follows the URL.
import { STORY_PAGE, STORY_STATES } from "./constants.js";
import { $, field, h } from "./dom.js";
import { currentRoute, navigate } from "./route.js";
import { state } from "./state.js";

const SEARCH_DELAY_MS = 250; // typing pauses this long before the list is asked for again
let searchTimer = null;

const form = () => $("#filters");

export function renderFilterProjects() {
  const select = field(form(), "project");
  const projects = [...state.projects.values()];
  select.replaceChildren(
    h("option", { value: "" }, "All projects"),
    ...projects.map((p) => h("option", { value: String(p.id) }, p.name)),
  );
  select.value = currentRoute().project;
}

/** The filter fields as the URL says (after a reload or back/forward). */
export function syncFilters(route) {
  const f = form();
  if (document.activeElement !== field(f, "q")) field(f, "q").value = route.q;
  field(f, "project").value = route.project;
  if (field(f, "project").value !== route.project) field(f, "project").value = "";
  field(f, "state").value = route.state;
}

export function renderPager() {
  const query = state.listQuery;
  const pages = Math.max(1, Math.ceil(state.total / STORY_PAGE));
  const page = query ? query.page : 1;
  const first = state.total ? (page - 1) * STORY_PAGE + 1 : 0;
  const last = (page - 1) * STORY_PAGE + state.stories.length;
  const n = (value) => value.toLocaleString("en");
  $("#page-info").textContent = `${n(first)}–${n(last)} of ${n(state.total)} stories`;
  $("#page-prev").disabled = page <= 1;
  $("#page-next").disabled = page >= pages;
}

export function initFilters() {
  const f = form();
  field(f, "state").append(...STORY_STATES.map(([value, label]) => h("option", { value }, label)));
  f.addEventListener("submit", (event) => event.preventDefault());
  field(f, "q").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => navigate({ q: field(f, "q").value, page: 1 }, { replace: true }), SEARCH_DELAY_MS);
  });
  for (const name of ["project", "state"]) {
    field(f, name).addEventListener("change", () => navigate({ [name]: field(f, name).value, page: 1 }));
  }
  $("#page-prev").addEventListener("click", () => navigate({ page: Math.max(1, currentRoute().page - 1) }));
  $("#page-next").addEventListener("click", () => navigate({ page: currentRoute().page + 1 }));
  syncFilters(currentRoute());
}
