// Page events: how a module tells the others that something changed without importing them. The
// module that knows emits; app.js subscribes the modules that show it. PageEvents types each one.

/**
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").Story} Story
 */

/**
 * @typedef {object} PageEvents
 * @property {[storyId: string]} storyJobChanged  a story's latest job, or what was saved of it, changed
 * @property {[]} workerWarningChanged  "no worker is running" appeared or went
 * @property {[job: Job, count: number]} draftReady  a job the page watched ended with a draft of `count`
 * @property {[snapshot: Job]} jobNews  news of a job (the event stream, or its status asked again)
 * @property {[taskId: string]} jobGone  the server no longer has the job (its draft was discarded)
 * @property {[storyId: string]} testCasesSaved  test cases of the story were saved
 * @property {[selected?: number]} projectsChanged  a project was added or changed (`selected`: choose it)
 * @property {[story: Story]} storyAdded
 * @property {[]} storiesImported  a Jira import ended: the list may have changed
 * @property {[]} credentialChanged  signed in, or an API key given: who is asking may have changed
 * @property {[]} accountChanged  the caller's roles are known anew: what the page offers follows them
 * @property {[]} reviewsChanged  a draft's review moved on: the review inbox's count may have changed
 */

/** @type {Map<string, ((...args: any[]) => void)[]>} event name -> its listeners (on() types them) */
const listeners = new Map();

/**
 * Call `listener` on each `name` event.
 * @template {keyof PageEvents} K
 * @param {K} name
 * @param {(...args: PageEvents[K]) => void} listener
 */
export function on(name, listener) {
  const list = listeners.get(name) ?? [];
  list.push(/** @type {(...args: any[]) => void} */ (listener));
  listeners.set(name, list);
}

/**
 * Tell every listener of `name`.
 * @template {keyof PageEvents} K
 * @param {K} name
 * @param {PageEvents[K]} args
 */
export function emit(name, ...args) {
  for (const listener of listeners.get(name) ?? []) listener(...args);
}
