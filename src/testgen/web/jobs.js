// Jobs: the latest snapshot of each, the no-worker warning, queueing and cancelling. What the page
// shows of them follows the events emitted here (storyJobChanged, workerWarningChanged, draftReady).
import { translate } from "./i18n.js";
import { api, ApiError } from "./api.js";
import { announce } from "./announce.js";
import { LIMITS, ROLE_LABELS, ROLE_STATUS, STATUS_RANK, STATUS_ROLE, TERMINAL } from "./constants.js";
import { encodePath } from "./dom.js";
import { emit } from "./events.js";
import { state } from "./state.js";
import { follow, followBatch } from "./stream.js";
import { groupedToast, toast } from "./toasts.js";

/**
 * @typedef {import("./types.js").Job} Job
 * @typedef {import("./types.js").GenerateOptions} GenerateOptions
 */

/**
 * Whether `snapshot` is later news of its job than `previous` (events may come twice, or late).
 * @param {Job} snapshot
 * @param {Job} previous
 */
export function isNewer(snapshot, previous) {
  const a = STATUS_RANK[snapshot.status] ?? 0;
  const b = STATUS_RANK[previous.status] ?? 0;
  if (a !== b) return a > b;
  return !TERMINAL.has(snapshot.status) && (snapshot.progress ?? 0) >= (previous.progress ?? 0);
}

/** @param {Job} snapshot */
export function isLatestJobOfStory(snapshot) {
  const current = state.storyTask.get(snapshot.story_id);
  if (!current || current === snapshot.task_id) return true;
  const known = state.jobs.get(current);
  if (!known || !known.created_at || !snapshot.created_at) return false;
  return Date.parse(snapshot.created_at) > Date.parse(known.created_at);
}

/**
 * Keep news of a job (older news and older jobs of its story are dropped).
 * @param {Job} snapshot
 */
export function applySnapshot(snapshot) {
  const previous = state.jobs.get(snapshot.task_id);
  if (previous && !isNewer(snapshot, previous)) return;
  if (!isLatestJobOfStory(snapshot)) return; // an older job of the story: not shown
  const job = { ...previous, ...snapshot };
  state.jobs.set(job.task_id, job);
  if (job.status === ROLE_STATUS.waiting && state.noWorker !== null) checkWorkers();
  if (!TERMINAL.has(job.status) && !state.firstSeen.has(job.task_id)) {
    state.firstSeen.set(job.task_id, performance.now());
  }
  state.storyTask.set(job.story_id, job.task_id);
  emit("storyJobChanged", job.story_id);
  // Badge changes are read out politely; not the burst of restored badges when the page loads.
  if (previous ? previous.status !== job.status : state.mine.has(job.task_id)) {
    announce(`${job.story_id}: ${ROLE_LABELS[STATUS_ROLE[job.status]] || job.status}`);
  }
  if (TERMINAL.has(job.status) && !(previous && TERMINAL.has(previous.status))) jobEnded(job);
}

/**
 * "No worker is running" is about the whole service, not one job: the page learns it from an
 * enqueue answer or a queued job's status and shows it on every queued badge. While it shows, the
 * page asks one queued job's status every few seconds, so it goes as soon as a worker runs.
 * state.noWorker: undefined = not known yet, null = a worker runs, else the warning.
 */
/** @type {Promise<void> | null} */
let workerCheck = null;
const pause = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string | null} warning */
export function setNoWorker(warning) {
  if (state.noWorker === warning) return;
  state.noWorker = warning;
  emit("workerWarningChanged");
  if (warning) checkWorkers();
}

export function checkWorkers() {
  if (workerCheck) return;
  workerCheck = (async () => {
    try {
      for (;;) {
        const queued = [...state.jobs.values()].find((job) => job.status === ROLE_STATUS.waiting);
        if (!queued || state.noWorker === null) return;
        if (state.noWorker) await pause(3000);
        let data = null;
        try {
          ({ data } = await api("GET", `/generate-test-cases/status/${encodePath(queued.task_id)}`));
        } catch {
          await pause(3000); // the API is away: the event stream says so; ask again later
        }
        if (data && data.status === ROLE_STATUS.waiting) setNoWorker(data.warning || null);
        else if (data && !TERMINAL.has(data.status)) setNoWorker(null); // a worker took it
      }
    } finally {
      workerCheck = null;
    }
  })();
}

/**
 * The server no longer has this job (its draft was discarded): forget it.
 * @param {string} taskId
 */
export function forgetTask(taskId) {
  const job = state.jobs.get(taskId);
  state.jobs.delete(taskId);
  state.saved.delete(taskId);
  if (job && state.storyTask.get(job.story_id) === taskId) {
    state.storyTask.delete(job.story_id);
    emit("storyJobChanged", job.story_id);
  }
}

/**
 * The draft of a job was saved: `saved` test cases of it (true: saved elsewhere, how many unknown).
 * @param {string} taskId
 * @param {string} storyId
 * @param {number | true} saved
 */
export function markSaved(taskId, storyId, saved) {
  state.saved.set(taskId, saved);
  emit("storyJobChanged", storyId);
}

/**
 * A draft's review moved on (its status was asked again): where it stands shows by its badge.
 * @param {import("./types.js").Job} snapshot
 */
export function noteReview(snapshot) {
  const known = state.jobs.get(snapshot.task_id);
  if (!known || !("review" in snapshot)) return;
  /** @type {import("./types.js").Job} */
  const job = { ...known, review: snapshot.review };
  state.jobs.set(snapshot.task_id, job);
  emit("storyJobChanged", known.story_id);
}

/**
 * Toast the end of jobs this page queued, and of jobs it watched run. A job that ended before the
 * page loaded is replayed in one burst (all its events at once): seen running for less than a
 * second, it is old news. Only the page's own clock is used, so clock skew does not matter.
 * @param {Job} job
 */
export function endedDuringVisit(job) {
  if (state.mine.has(job.task_id)) return true;
  const since = state.firstSeen.get(job.task_id);
  return since !== undefined && performance.now() - since >= 1000;
}

/** @param {Job} job */
export function jobEnded(job) {
  if (job.status === ROLE_STATUS.ready && !state.mine.has(job.task_id)) checkSaved(job.task_id);
  if (!endedDuringVisit(job)) return;
  if (job.status === ROLE_STATUS.ready) {
    const count = ((job.result && job.result.test_cases) || []).length;
    const text = translate("toast.ready", { id: job.story_id, count });
    groupedToast(ROLE_STATUS.ready, job.story_id, text, translate("toast.ready_group"), "success");
    emit("draftReady", job, count);
  } else if (job.status === ROLE_STATUS.error) {
    const error = (job.error && job.error.message) || job.message || "";
    toast(translate("toast.failed", { id: job.story_id, error }), "error", 8000);
  } else {
    toast(translate("toast.cancelled", { id: job.story_id }), "info");
  }
}

/**
 * A restored draft may have been saved already (the stream's snapshot predates the save).
 * @param {string} taskId
 */
export async function checkSaved(taskId) {
  try {
    const { data } = await api("GET", `/generate-test-cases/status/${encodePath(taskId)}`);
    if (data.saved_at) markSaved(taskId, data.story_id, true);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) forgetTask(taskId); // discarded
  }
}

/**
 * Queue a generation job for a story.
 * @param {string} storyId
 * @param {GenerateOptions} body
 */
export async function generate(storyId, body) {
  try {
    const { status, data } = await api("POST", `/generate-test-cases/${encodePath(storyId)}/queue`, body);
    state.mine.add(data.task_id);
    state.storyTask.set(storyId, data.task_id);
    applySnapshot({ task_id: data.task_id, story_id: data.story_id, status: data.status, progress: 0 });
    if (data.status === ROLE_STATUS.waiting) setNoWorker(data.warning || null);
    if (status === 202) {
      const options = { id: storyId, cases: body.num_test_cases, scenarios: body.scenarios_per_test_case };
      groupedToast(ROLE_STATUS.waiting, storyId, translate("toast.queued", options), translate("toast.queued_group"));
    } else {
      toast(translate("toast.already", { id: storyId, status: data.status }));
    }
    follow(data.task_id);
  } catch (err) {
    toast(translate("toast.queue_failed", { id: storyId, error: err.message }), "error", 8000);
  } finally {
    emit("storyJobChanged", storyId);
  }
}

/**
 * The options a failed or cancelled job was asked with (the defaults for those it does not name).
 * @param {Job} job
 * @returns {GenerateOptions}
 */
export function retryOptions(job) {
  const options = job.options || {};
  return {
    num_test_cases: options.num_test_cases ?? Number(LIMITS.generate.num_test_cases.default),
    scenarios_per_test_case: options.scenarios_per_test_case ?? Number(LIMITS.generate.scenarios_per_test_case.default),
    ...(options.techniques ? { techniques: options.techniques } : {}),
  };
}

/**
 * "Generate for all": every story of a project (or those without saved tests) in one request.
 * @param {import("./types.js").Project} project
 * @param {boolean} onlyWithoutTests
 * @param {HTMLButtonElement} button
 */
export async function generateProject(project, onlyWithoutTests, button) {
  const body = { project_id: project.id, only_without_tests: onlyWithoutTests };
  button.disabled = true;
  try {
    const { data } = await api("POST", "/generate-test-cases/queue", body);
    if (!data.jobs.length) {
      toast(translate(onlyWithoutTests ? "toast.none_without_tests" : "toast.none", { project: project.name }));
      return;
    }
    for (const job of data.jobs) {
      state.mine.add(job.task_id);
      state.storyTask.set(job.story_id, job.task_id);
      applySnapshot({ task_id: job.task_id, story_id: job.story_id, status: job.status, progress: 0 });
    }
    if (data.warning) setNoWorker(data.warning);
    const reused = data.reused ? translate("toast.reused", { count: data.reused }) : "";
    toast(translate("toast.project_queued", { project: project.name, count: data.created, reused }), "success");
    followBatch(data.batch_id, data.jobs.map((/** @type {Job} */ job) => job.task_id));
  } catch (err) {
    toast(translate("toast.queue_failed", { id: project.name, error: err.message }), "error", 8000);
  } finally {
    button.disabled = false;
  }
}

/** @param {string} taskId */
export async function cancel(taskId) {
  try {
    const { data } = await api("POST", `/generate-test-cases/${encodePath(taskId)}/cancel`);
    applySnapshot(data);
  } catch (err) {
    toast(translate("toast.cancel_failed", { error: err.message }), "error");
  }
}
