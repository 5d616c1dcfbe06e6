// What the page knows: stories, projects, jobs and which job belongs to which story.
export const state = {
  stories: [], // the page of the list on show
  total: 0, // how many stories match the list's search and filters (X-Total-Count)
  listQuery: null, // the search, filters and page the list shows
  view: null, // the open story view: { storyId, story, parts } (parts: its status cell and Generate)
  projects: new Map(), // id -> project
  providers: [], // the LLM providers a project may choose: { name, default_model, default }
  jobs: new Map(), // task_id -> latest snapshot
  storyTask: new Map(), // story_id -> task_id of its latest job
  saved: new Map(), // task_id -> number of test cases saved (or true when saved elsewhere)
  mine: new Set(), // task ids this page queued
  firstSeen: new Map(), // task_id -> when (performance.now()) the page first saw it running
  rows: new Map(), // story_id -> { row, status, generate }
  noWorker: undefined, // the "no worker is running" warning; null once a worker runs (see checkWorkers)
};
