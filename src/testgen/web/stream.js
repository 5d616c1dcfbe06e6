// The one event stream for the whole page.
//
// Progress comes over ONE EventSource for the whole page (GET /generate-test-cases/events with a
// task_id per running job). Each event's `id:` is the position of the job that changed
// (`<task>=<entry>`); the page keeps the latest position of every job and, whenever it (re)opens the
// stream (a job added, or the connection dropped), sends them all as `?last_event_id=<task>=<entry>;…`,
// so nothing is replayed twice or lost. A 204 answer means every job ended. The jobs of a "Generate
// for all" (a bulk enqueue) are followed by their batch (`?batch=<id>`) rather than one by one; their
// positions would not fit in a URL, so a reopen replays their events and applySnapshot skips the old.
//
// The stream only carries the news: it emits `jobNews` for each snapshot and `jobGone` for a job the
// server no longer has (jobs.js keeps them; app.js wires the two).
import { translate } from "./i18n.js";
import { api, ApiError, streamUrl } from "./api.js";
import { EVENT_NAMES, LIMITS, TERMINAL } from "./constants.js";
import { byId, encodePath } from "./dom.js";
import { emit } from "./events.js";
import { state } from "./state.js";

// --- the one event stream -------------------------------------------------------------------------
export const stream = {
  /** @type {EventSource | null} */
  es: null,
  /** @type {Map<string, string>} task_id -> the entry id of the last event seen for it */
  positions: new Map(),
  /** @type {{ tasks: string[], stories: string[], batches: string[] }} what the open stream was opened for */
  asked: { tasks: [], stories: [], batches: [] },
  /** @type {Map<string, Set<string>>} batch id -> the task ids of a bulk enqueue this page made */
  batches: new Map(),
  /** @type {Set<string>} task ids the open stream was asked for */
  covers: new Set(),
  /** @type {Set<string>} stories whose latest job the page has not heard of yet (on load) */
  pendingStories: new Set(),
  generation: 0,
  /** @type {number | null} */
  timer: null,
  due: 0,
  failures: 0,
};

/** @param {"idle" | "live" | "reconnecting"} name */
export function setConnection(name) {
  const el = byId("connection");
  el.dataset.state = name;
  el.textContent = translate(`connection.${name}`);
}

export function activeTasks() {
  return [...state.jobs.values()].filter((j) => !TERMINAL.has(j.status)).map((j) => j.task_id);
}

/**
 * Reopen the stream soon; calls close together (several Generate clicks) make one reopen.
 * @param {number} [delayMs]
 * @param {boolean} [reconnect]  ask for the same jobs again (the connection dropped)
 */
export function scheduleStream(delayMs = 150, reconnect = false) {
  const due = performance.now() + delayMs;
  if (stream.timer && stream.due <= due) return; // the reopen already planned comes sooner
  clearTimeout(stream.timer ?? undefined);
  stream.due = due;
  stream.timer = setTimeout(() => openStream(reconnect), delayMs);
}

const MAX_BATCHES = LIMITS.stream.batches.maximum ?? 1; // the server follows at most this many on one stream

/** Batches with a job still running (the others are forgotten), newest first. */
export function activeBatches() {
  const running = new Set(activeTasks());
  for (const [id, tasks] of stream.batches) {
    if (![...tasks].some((task) => running.has(task))) stream.batches.delete(id);
  }
  return [...stream.batches.keys()].reverse().slice(0, MAX_BATCHES);
}

/**
 * @param {string} batchId
 * @param {string[]} taskIds
 */
export function followBatch(batchId, taskIds) {
  stream.batches.set(batchId, new Set(taskIds));
  scheduleStream();
}

/** @param {string} taskId */
export function follow(taskId) {
  if (stream.es && stream.covers.has(taskId)) return; // the open stream already follows it
  scheduleStream();
}

/**
 * The resume cursor: the latest position of each job. A new stream asks only for running jobs, so
 * ended ones are left out (and forgotten); a reconnect asks for the same jobs again, so it keeps them.
 * @param {boolean} keepEnded
 * @param {Set<string>} [skip]
 */
export function resumeCursor(keepEnded, skip = new Set()) {
  const parts = [];
  for (const [task, entry] of stream.positions) {
    const job = state.jobs.get(task);
    if (!keepEnded && job && TERMINAL.has(job.status)) stream.positions.delete(task);
    else if (!skip.has(task)) parts.push(`${task}=${entry}`);
  }
  return parts.join(";");
}

/** @param {boolean} [reconnect] */
export async function openStream(reconnect = false) {
  stream.timer = null;
  const generation = ++stream.generation;
  const tasks = reconnect ? stream.asked.tasks : activeTasks();
  const stories = reconnect ? stream.asked.stories : [...stream.pendingStories];
  const batches = reconnect ? stream.asked.batches : activeBatches();
  const batched = new Set(batches.flatMap((id) => [...(stream.batches.get(id) || [])]));
  if (!tasks.length && !stories.length) {
    closeStream();
    setConnection("idle");
    return;
  }
  const params = new URLSearchParams();
  for (const task of tasks) if (!batched.has(task)) params.append("task_id", task);
  for (const story of stories) params.append("story_id", story);
  for (const batch of batches) params.append("batch", batch);
  const cursor = resumeCursor(reconnect, batched);
  if (cursor) params.set("last_event_id", cursor);
  let url;
  try {
    url = await streamUrl("/generate-test-cases/events", params);
  } catch {
    if (generation === stream.generation) streamFailed();
    return;
  }
  if (generation !== stream.generation) return; // a newer reopen is under way
  closeStream(); // at most one EventSource at any time
  const es = new EventSource(url);
  stream.es = es;
  stream.covers = new Set(tasks);
  stream.asked = { tasks, stories, batches };
  for (const name of EVENT_NAMES) es.addEventListener(name, (event) => onStreamEvent(es, /** @type {MessageEvent} */ (event)));
  es.onopen = () => {
    if (es === stream.es) setConnection("live");
  };
  es.onerror = () => {
    if (es !== stream.es) return;
    if (es.readyState === EventSource.CONNECTING) {
      // The browser would retry with the last id only (one job's position): reopen with them all.
      closeStream();
      setConnection("reconnecting");
      stream.failures += 1;
      scheduleStream(Math.min(30_000, 1000 * 2 ** Math.min(stream.failures - 1, 5)), true);
      return;
    }
    // CLOSED: a 204 (every job ended) or an error answer (an expired token, a deleted story, ...)
    stream.es = null;
    stream.pendingStories.clear();
    streamFailed();
  };
}

export function closeStream() {
  if (stream.es) {
    stream.es.close();
    stream.es = null;
  }
}

export async function streamFailed() {
  applyNews(Infinity); // what the stream said before it ended counts
  if (!activeTasks().length) {
    setConnection("idle");
    return;
  }
  // Jobs still look active: ask for their state, then follow those still running again.
  await refreshActive();
  if (activeTasks().length && !stream.timer && !stream.es) {
    stream.failures += 1;
    setConnection("reconnecting");
    scheduleStream(Math.min(30_000, 1000 * 2 ** Math.min(stream.failures - 1, 5)));
  } else if (!activeTasks().length) {
    setConnection("idle");
  }
}

export async function refreshActive() {
  await Promise.all(
    activeTasks().map(async (taskId) => {
      try {
        const { data } = await api("GET", `/generate-test-cases/status/${encodePath(taskId)}`);
        emit("jobNews", data);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) emit("jobGone", taskId);
      }
    }),
  );
}

/**
 * @param {EventSource} es
 * @param {MessageEvent} event
 */
export function onStreamEvent(es, event) {
  if (es !== stream.es) return;
  const split = event.lastEventId.indexOf("=");
  if (split > 0) stream.positions.set(event.lastEventId.slice(0, split), event.lastEventId.slice(split + 1));
  stream.failures = 0;
  const snapshot = JSON.parse(event.data);
  stream.covers.add(snapshot.task_id);
  stream.pendingStories.delete(snapshot.story_id);
  news.push({ es, snapshot });
  if (news.length === 1) setTimeout(showNews, 0);
}

// The browser hands over every event of a chunk in one task (a replay of 50 running jobs at once):
// the news is shown in slices of at most NEWS_SLICE_MS, each its own task, so the page stays
// responsive and no frame waits for all of it. News taken in is shown even if its stream has
// ended since (a replay of ended jobs is followed at once by the server's end of the stream).
const NEWS_SLICE_MS = 10;
/** @type {{ es: EventSource, snapshot: import("./types.js").Job }[]} */
const news = [];

/**
 * Show the news waiting, for at most `budgetMs`; returns the stream of the last shown.
 * @param {number} budgetMs
 */
function applyNews(budgetMs) {
  const until = performance.now() + budgetMs;
  /** @type {EventSource | null} */
  let es = null;
  while (news.length && performance.now() < until) {
    const item = /** @type {{ es: EventSource, snapshot: import("./types.js").Job }} */ (news.shift());
    es = item.es;
    emit("jobNews", item.snapshot);
  }
  return es;
}

function showNews() {
  const es = applyNews(NEWS_SLICE_MS);
  if (news.length) {
    setTimeout(showNews, 0);
    return;
  }
  if (es && es === stream.es && !activeTasks().length && !stream.pendingStories.size) {
    // Every job this page follows has ended: nothing more will come, so no need to reconnect
    // just to hear the server's 204.
    closeStream();
    setConnection("idle");
  }
}
