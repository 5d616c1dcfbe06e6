// What the page knows: stories, projects, jobs and which job belongs to which story.

/**
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").Story} Story
 * @typedef {import("./types.js").Project} Project
 * @typedef {import("./types.js").Provider} Provider
 * @typedef {import("./types.js").ListQuery} ListQuery
 * @typedef {import("./types.js").StatusParts} StatusParts
 */

export const state = {
  /** @type {Story[]} the page of the list on show */
  stories: [],
  total: 0, // how many stories match the list's search and filters (X-Total-Count)
  /** @type {ListQuery | null} the search, filters and page the list shows */
  listQuery: null,
  /** @type {{ storyId: string, story: Story, parts: StatusParts } | null} the open story view */
  view: null,
  /** @type {Map<number, Project>} id -> project */
  projects: new Map(),
  /** @type {Provider[]} the LLM providers a project may choose */
  providers: [],
  /** @type {Map<string, Job>} task_id -> latest snapshot */
  jobs: new Map(),
  /** @type {Map<string, string>} story_id -> task_id of its latest job */
  storyTask: new Map(),
  /** @type {Map<string, number | true>} task_id -> number of test cases saved (true: saved elsewhere) */
  saved: new Map(),
  /** @type {Set<string>} task ids this page queued */
  mine: new Set(),
  /** @type {Map<string, number>} task_id -> when (performance.now()) the page first saw it running */
  firstSeen: new Map(),
  /** @type {Map<string, StatusParts & { row: HTMLElement }>} story_id -> its row's parts */
  rows: new Map(),
  /** @type {string | null | undefined} "no worker is running"; null once a worker runs (see checkWorkers) */
  noWorker: undefined,
};
