// Loading: the projects (with the providers they may choose) and one page of the story list, as the
// URL's search, filters and page ask (the server filters and pages: GET /user-stories?q=&state=…).
import { api } from "./api.js";
import { LIMITS, STORY_PAGE } from "./constants.js";
import { byId } from "./dom.js";
import { renderExportProjects } from "./exports.js";
import { renderFilterProjects, renderPager } from "./filters.js";
import { renderProjectTable } from "./projects.js";
import { renderProjectPush } from "./push.js";
import { currentRoute } from "./route.js";
import { state } from "./state.js";
import { renderProjects } from "./story-form.js";
import { renderStories } from "./stories.js";
import { scheduleStream, stream } from "./stream.js";

/**
 * @typedef {import("./types.js").ListQuery} ListQuery
 * @typedef {import("./types.js").Story} Story
 */

let listTicket = 0; // the latest list request: an older answer arriving late is dropped

/**
 * The list's query of a route: what the server is asked for.
 * @param {import("./types.js").Route} route
 * @returns {ListQuery}
 */
export function listQuery(route) {
  return { q: route.q.trim(), project: route.project, state: route.state, page: route.page };
}

/**
 * @param {ListQuery | null} a
 * @param {ListQuery | null} b
 */
export function sameQuery(a, b) {
  return a !== null && b !== null && a.q === b.q && a.project === b.project && a.state === b.state && a.page === b.page;
}

/** @param {ListQuery} query */
function storiesUrl(query) {
  const params = new URLSearchParams({ limit: String(STORY_PAGE), offset: String((query.page - 1) * STORY_PAGE) });
  if (query.q) params.set("q", query.q);
  if (query.project) params.set("project_id", query.project);
  if (query.state) params.set("state", query.state);
  return `/user-stories?${params}`;
}

/**
 * @param {ListQuery} query
 * @returns {Promise<{ stories: Story[], total: number } | null>} null: a later request was made meanwhile
 */
async function fetchStories(query) {
  const ticket = ++listTicket;
  const { data, response } = await api("GET", storiesUrl(query));
  const total = Number(response.headers.get("X-Total-Count") ?? data.length);
  return ticket === listTicket ? { stories: data, total } : null;
}

/**
 * @param {ListQuery} query
 * @param {{ stories: Story[], total: number }} listed
 */
function showStories(query, { stories, total }) {
  state.listQuery = query;
  state.stories = stories;
  state.total = total;
  renderStories();
  renderPager();
  restoreBadges(stories);
}

/**
 * Every list of projects on the page (after a project was added or renamed).
 * @param {number} [selected]  the project the add-a-story form chooses
 */
export function renderProjectLists(selected) {
  renderProjectTable();
  const current = byId("project-select", HTMLSelectElement).value;
  renderProjects(selected ?? (state.projects.has(Number(current)) ? Number(current) : undefined));
  renderExportProjects();
  renderProjectPush();
  renderFilterProjects();
  if (state.stories.length) renderStories(); // the project column
}

export async function load() {
  const query = listQuery(currentRoute());
  const [{ data: projects }, listed, { data: providers }] = await Promise.all([
    api("GET", `/projects?limit=${LIMITS.lists.projects_page.maximum}`), // every project: as many as one page holds
    fetchStories(query),
    api("GET", "/projects/providers"),
  ]);
  state.projects = new Map(projects.map((/** @type {import("./types.js").Project} */ p) => [p.id, p]));
  state.providers = providers;
  renderProjectLists();
  if (listed) showStories(query, listed);
}

/** The list again, as the URL asks (after a search, a filter, a page change, a deletion). */
export async function loadStories() {
  const query = listQuery(currentRoute());
  const listed = await fetchStories(query);
  if (listed) showStories(query, listed);
}

/**
 * A story just added: shown at once when it belongs on the page on show, counted either way.
 * @param {Story} story
 */
export function showAddedStory(story) {
  const query = state.listQuery || listQuery(currentRoute());
  const matches = !query.q && !query.state && (!query.project || Number(query.project) === story.project_id);
  if (!matches) return;
  state.total += 1;
  if (state.stories.length < STORY_PAGE && query.page * STORY_PAGE >= state.total) state.stories.push(story);
  renderStories();
  renderPager();
}

/**
 * Follow the latest job of each story on show that the page knows nothing about yet.
 * @param {Story[]} stories
 */
function restoreBadges(stories) {
  const unknown = stories.filter((story) => !state.storyTask.has(story.id)).map((story) => story.id);
  const asked = new Set(stream.es ? stream.asked.stories : []);
  stream.pendingStories = new Set(unknown); // only this page's stories: the stream names each once
  if (unknown.some((id) => !asked.has(id))) scheduleStream(0);
}
