// Jobs: the latest snapshot of each, the no-worker warning, queueing and cancelling.
import { api } from "./api.js";
import { announce } from "./announce.js";
import { RANK, ROLE_LABELS, ROLE_OF, S, TERMINAL } from "./constants.js";
import { enc } from "./dom.js";
import { notifyReady } from "./notify.js";
import { renderAllStatuses, renderStatus, statusTargets } from "./stories.js";
import { state } from "./state.js";
import { follow, followBatch } from "./stream.js";
import { groupedToast, toast } from "./toasts.js";

export function isNewer(snapshot, previous) {
  const a = RANK[snapshot.status] ?? 0;
  const b = RANK[previous.status] ?? 0;
  if (a !== b) return a > b;
  return !TERMINAL.has(snapshot.status) && (snapshot.progress ?? 0) >= (previous.progress ?? 0);
}

export function isLatestJobOfStory(snapshot) {
  const current = state.storyTask.get(snapshot.story_id);
  if (!current || current === snapshot.task_id) return true;
  const known = state.jobs.get(current);
  if (!known || !known.created_at || !snapshot.created_at) return false;
  return Date.parse(snapshot.created_at) > Date.parse(known.created_at);
}

export function applySnapshot(snapshot) {
  const previous = state.jobs.get(snapshot.task_id);
  if (previous && !isNewer(snapshot, previous)) return;
  if (!isLatestJobOfStory(snapshot)) return; // an older job of the story: not shown
  const job = { ...previous, ...snapshot };
  state.jobs.set(job.task_id, job);
  if (job.status === S.waiting && state.noWorker !== null) checkWorkers();
  if (!TERMINAL.has(job.status) && !state.firstSeen.has(job.task_id)) {
    state.firstSeen.set(job.task_id, performance.now());
  }
  state.storyTask.set(job.story_id, job.task_id);
  renderStatus(job.story_id);
  // Badge changes are read out politely; not the burst of restored badges when the page loads.
  if (previous ? previous.status !== job.status : state.mine.has(job.task_id)) {
    announce(`${job.story_id}: ${ROLE_LABELS[ROLE_OF[job.status]] || job.status}`);
  }
  if (TERMINAL.has(job.status) && !(previous && TERMINAL.has(previous.status))) jobEnded(job);
}

/**
 * "No worker is running" is about the whole service, not one job: the page learns it from an
 * enqueue answer or a queued job's status and shows it on every queued badge. While it shows, the
 * page asks one queued job's status every few seconds, so it goes as soon as a worker runs.
 * state.noWorker: undefined = not known yet, null = a worker runs, else the warning.
 */
let workerCheck = null;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function setNoWorker(warning) {
  if (state.noWorker === warning) return;
  state.noWorker = warning;
  renderAllStatuses();
  if (warning) checkWorkers();
}

export function checkWorkers() {
  if (workerCheck) return;
  workerCheck = (async () => {
    try {
      for (;;) {
        const queued = [...state.jobs.values()].find((job) => job.status === S.waiting);
        if (!queued || state.noWorker === null) return;
        if (state.noWorker) await pause(3000);
        let data = null;
        try {
          ({ data } = await api("GET", `/generate-test-cases/status/${enc(queued.task_id)}`));
        } catch {
          await pause(3000); // the API is away: the event stream says so; ask again later
        }
        if (data && data.status === S.waiting) setNoWorker(data.warning || null);
        else if (data && !TERMINAL.has(data.status)) setNoWorker(null); // a worker took it
      }
    } finally {
      workerCheck = null;
    }
  })();
}

export function forgetTask(taskId) {
  const job = state.jobs.get(taskId);
  state.jobs.delete(taskId);
  state.saved.delete(taskId);
  if (job && state.storyTask.get(job.story_id) === taskId) {
    state.storyTask.delete(job.story_id);
    renderStatus(job.story_id);
  }
}

/**
 * Toast the end of jobs this page queued, and of jobs it watched run. A job that ended before the
 * page loaded is replayed in one burst (all its events at once): seen running for less than a
 * second, it is old news. Only the page's own clock is used, so clock skew does not matter.
 */
export function endedDuringVisit(job) {
  if (state.mine.has(job.task_id)) return true;
  const since = state.firstSeen.get(job.task_id);
  return since !== undefined && performance.now() - since >= 1000;
}

export function jobEnded(job) {
  if (job.status === S.ready && !state.mine.has(job.task_id)) checkSaved(job.task_id);
  if (!endedDuringVisit(job)) return;
  if (job.status === S.ready) {
    const count = ((job.result && job.result.test_cases) || []).length;
    const text = `${job.story_id}: ${count} test cases ready for review`;
    groupedToast(S.ready, job.story_id, text, "ready for review", "success");
    notifyReady(job, count);
  } else if (job.status === S.error) {
    toast(`${job.story_id}: generation failed — ${(job.error && job.error.message) || job.message}`, "error", 8000);
  } else {
    toast(`${job.story_id}: generation cancelled`, "info");
  }
}

/** A restored draft may have been saved already (the stream's snapshot predates the save). */
export async function checkSaved(taskId) {
  try {
    const { data } = await api("GET", `/generate-test-cases/status/${enc(taskId)}`);
    if (data.saved_at) {
      state.saved.set(taskId, true);
      renderStatus(data.story_id);
    }
  } catch (err) {
    if (err.status === 404) forgetTask(taskId); // discarded
  }
}

/** Queue a generation job for a story; body: { num_test_cases, scenarios_per_test_case }. */
export async function generate(storyId, body) {
  const story = { id: storyId };
  for (const parts of statusTargets(storyId)) parts.generate.disabled = true;
  try {
    const { status, data } = await api("POST", `/generate-test-cases/${enc(story.id)}/queue`, body);
    state.mine.add(data.task_id);
    state.storyTask.set(story.id, data.task_id);
    applySnapshot({ task_id: data.task_id, story_id: data.story_id, status: data.status, progress: 0 });
    if (data.status === S.waiting) setNoWorker(data.warning || null);
    if (status === 202) {
      const options = `${body.num_test_cases} test cases × ${body.scenarios_per_test_case} scenarios`;
      groupedToast(S.waiting, story.id, `${story.id}: queued (${options})`, "queued for generation");
    } else {
      toast(`${story.id} already has a job ${data.status}; following it`);
    }
    follow(data.task_id);
  } catch (err) {
    toast(`${story.id}: could not queue — ${err.message}`, "error", 8000);
  } finally {
    renderStatus(story.id);
  }
}

/** Queue a failed or cancelled job again, with the options it was asked with. */
export function retry(job) {
  const options = job.options || {};
  return generate(job.story_id, {
    num_test_cases: options.num_test_cases ?? 5,
    scenarios_per_test_case: options.scenarios_per_test_case ?? 3,
  });
}

/** "Generate for all": every story of a project (or those without saved tests) in one request. */
export async function generateProject(project, onlyWithoutTests, button) {
  const body = { project_id: project.id, only_without_tests: onlyWithoutTests };
  button.disabled = true;
  try {
    const { data } = await api("POST", "/generate-test-cases/queue", body);
    if (!data.jobs.length) {
      toast(`${project.name}: no stories${onlyWithoutTests ? " without saved tests" : ""} to generate for`);
      return;
    }
    for (const job of data.jobs) {
      state.mine.add(job.task_id);
      state.storyTask.set(job.story_id, job.task_id);
      applySnapshot({ task_id: job.task_id, story_id: job.story_id, status: job.status, progress: 0 });
    }
    if (data.warning) setNoWorker(data.warning);
    const reused = data.reused ? ` (${data.reused} already running)` : "";
    toast(`${project.name}: ${data.created} stories queued for generation${reused}`, "success");
    followBatch(data.batch_id, data.jobs.map((job) => job.task_id));
  } catch (err) {
    toast(`${project.name}: could not queue — ${err.message}`, "error", 8000);
  } finally {
    button.disabled = false;
  }
}

export async function cancel(taskId) {
  try {
    const { data } = await api("POST", `/generate-test-cases/${enc(taskId)}/cancel`);
    applySnapshot(data);
  } catch (err) {
    toast(`Could not cancel: ${err.message}`, "error");
  }
}
