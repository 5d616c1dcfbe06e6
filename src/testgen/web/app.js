// The testgen page: plain JavaScript, no build step. It talks to the same API as everyone else.
//
// Progress comes over ONE EventSource for the whole page (GET /generate-test-cases/events with a
// task_id per running job). Each event's `id:` is the position of the job that changed
// (`<task>=<entry>`); the page keeps the latest position of every job and, whenever it (re)opens the
// stream (a job added, or the connection dropped), sends them all as `?last_event_id=<task>=<entry>;…`,
// so nothing is replayed twice or lost. A 204 answer means every job ended.
"use strict";

(() => {
  // The job statuses come from the server (/static/job-states.js, built from data/job_states.py):
  // the page branches on their roles and never spells a status itself.
  const JOB = window.TESTGEN_JOB_STATES;
  const S = JOB.roles;
  const TERMINAL = new Set(JOB.terminal);
  const RANK = Object.fromEntries(JOB.statuses.map((s, i) => [s, TERMINAL.has(s) ? JOB.statuses.length : i]));
  const EVENT_NAMES = JOB.events;
  const STORY_LIMIT = 200; // GET /user-stories default page; the restore stream names each story once
  const PRIORITIES = ["low", "medium", "high", "critical"];
  const TEST_TYPES = ["functional", "negative", "boundary", "security", "usability", "performance"];
  const NEW_PROJECT = "__new__";
  // Export formats (GET …/test-cases/export?format=): value -> label.
  const EXPORT_FORMATS = [
    ["gherkin", "Gherkin"],
    ["gherkin-tagged", "Gherkin (tagged, Rules)"],
    ["testrail-csv", "TestRail CSV"],
    ["xray-json", "Xray JSON"],
    ["csv", "CSV"],
    ["json", "JSON"],
  ];

  const $ = (selector, root = document) => root.querySelector(selector);

  // --- tiny DOM helper: text is always set as text, never parsed as HTML --------------------------
  function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "dataset") Object.assign(el.dataset, value);
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name in el && name !== "list") el[name] = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const enc = encodeURIComponent;
  // form.elements, not form[name]: a field named "id" or "title" would otherwise be confused with the
  // form's own properties of that name.
  const field = (form, name) => form.elements.namedItem(name);

  // --- authentication: the one place that knows how requests prove who they are -------------------
  // When the server has API_KEYS set it answers 401; the page then asks for a key, keeps it in
  // sessionStorage (this tab only), sends it as `Authorization: Bearer`, and, because EventSource
  // cannot send headers, puts a short-lived token from POST /auth/stream-token in `?access_token=`.
  const auth = {
    storageKey: "testgen.apiKey",
    streamToken: null, // { token, expiresAt }
    key() {
      return sessionStorage.getItem(this.storageKey) || "";
    },
    setKey(key) {
      if (key) sessionStorage.setItem(this.storageKey, key);
      else sessionStorage.removeItem(this.storageKey);
      this.streamToken = null;
      $("#key-button").hidden = !key;
    },
    headers() {
      const key = this.key();
      return key ? { Authorization: `Bearer ${key}` } : {};
    },
    /** The URL of an event stream, with whatever credential EventSource needs. */
    async streamUrl(path, params) {
      if (this.key()) {
        const now = Date.now();
        if (!this.streamToken || this.streamToken.expiresAt - 30_000 < now) {
          try {
            const { data } = await api("POST", "/auth/stream-token");
            this.streamToken = { token: data.token, expiresAt: now + data.expires_in * 1000 };
          } catch (err) {
            if (err.status !== 404) throw err; // a server without stream tokens: try without
          }
        }
        if (this.streamToken) params.set("access_token", this.streamToken.token);
      }
      const query = params.toString();
      return query ? `${path}?${query}` : path;
    },
  };

  let keyPrompt = null; // one prompt shared by every request that got a 401

  function askForKey(message) {
    if (!keyPrompt) {
      keyPrompt = new Promise((resolve) => {
        const dialog = $("#key-dialog");
        const form = $("#key-form");
        $("#key-error").textContent = message || "";
        field(form, "key").value = "";
        form.onsubmit = (event) => {
          event.preventDefault();
          const key = field(form, "key").value.trim();
          if (!key) return;
          auth.setKey(key);
          dialog.close();
          keyPrompt = null;
          resolve();
        };
        dialog.oncancel = (event) => event.preventDefault(); // nothing works without a key
        if (!dialog.open) dialog.showModal();
      });
    }
    return keyPrompt;
  }

  // --- the API ------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function describeError(data, response) {
    const detail = data && data.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
        .join("; ");
    }
    return `${response.status} ${response.statusText}`.trim();
  }

  /** fetch with the API key; a 401 asks for a key and tries again. Resolves to {status, data, response}. */
  async function api(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const init = { method, headers: { Accept: "application/json", ...auth.headers() } };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      let response;
      try {
        response = await fetch(path, init);
      } catch {
        throw new ApiError(0, "cannot reach the testgen server; check that it is running");
      }
      if (response.status === 401 && attempt < 5) {
        await askForKey(auth.key() ? "That key was refused; try another one." : "");
        continue;
      }
      const data = response.status === 204 ? null : await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, describeError(data, response));
      return { status: response.status, data, response };
    }
  }

  // --- state --------------------------------------------------------------------------------------
  const state = {
    stories: [],
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

  // --- toasts ---------------------------------------------------------------------------------------
  const MAX_TOASTS = 4;
  const toastGroups = new Map(); // group -> { el, stories }

  function toast(text, kind = "info", ms = 5000) {
    const box = $("#toasts");
    while (box.children.length >= MAX_TOASTS) box.firstElementChild.remove();
    const el = h("div", { className: "toast", role: "status", dataset: { kind } }, text);
    box.append(el);
    el.dismiss = () => {
      clearTimeout(el.timer);
      el.timer = setTimeout(() => el.remove(), ms);
    };
    el.dismiss();
    return el;
  }

  /** One toast for news of the same kind about several stories ("US-1, US-2 and 6 more: queued"). */
  function groupedToast(group, storyId, single, suffix, kind) {
    const current = toastGroups.get(group);
    if (current && current.el.isConnected) {
      current.stories.push(storyId);
      const shown = current.stories.slice(0, 3).join(", ");
      const more = current.stories.length > 3 ? ` and ${current.stories.length - 3} more` : "";
      current.el.textContent = `${shown}${more}: ${suffix}`;
      current.el.dismiss();
      return;
    }
    toastGroups.set(group, { el: toast(single, kind), stories: [storyId] });
  }

  // --- the one event stream -------------------------------------------------------------------------
  const stream = {
    es: null,
    positions: new Map(), // task_id -> the entry id of the last event seen for it
    asked: { tasks: [], stories: [] }, // what the open stream was opened for
    covers: new Set(), // task ids the open stream was asked for
    pendingStories: new Set(), // stories whose latest job the page has not heard of yet (on load)
    generation: 0,
    timer: null,
    due: 0,
    failures: 0,
  };

  function setConnection(name) {
    const el = $("#connection");
    el.dataset.state = name;
    el.textContent = { live: "live", reconnecting: "reconnecting…", idle: "idle" }[name];
  }

  function activeTasks() {
    return [...state.jobs.values()].filter((j) => !TERMINAL.has(j.status)).map((j) => j.task_id);
  }

  /** Reopen the stream soon; calls close together (several Generate clicks) make one reopen. */
  function scheduleStream(delayMs = 150, reconnect = false) {
    const due = performance.now() + delayMs;
    if (stream.timer && stream.due <= due) return; // the reopen already planned comes sooner
    clearTimeout(stream.timer);
    stream.due = due;
    stream.timer = setTimeout(() => openStream(reconnect), delayMs);
  }

  function follow(taskId) {
    if (stream.es && stream.covers.has(taskId)) return; // the open stream already follows it
    scheduleStream();
  }

  /**
   * The resume cursor: the latest position of each job. A new stream asks only for running jobs, so
   * ended ones are left out (and forgotten); a reconnect asks for the same jobs again, so it keeps them.
   */
  function resumeCursor(keepEnded) {
    const parts = [];
    for (const [task, entry] of stream.positions) {
      const job = state.jobs.get(task);
      if (!keepEnded && job && TERMINAL.has(job.status)) stream.positions.delete(task);
      else parts.push(`${task}=${entry}`);
    }
    return parts.join(";");
  }

  async function openStream(reconnect = false) {
    stream.timer = null;
    const generation = ++stream.generation;
    const tasks = reconnect ? stream.asked.tasks : activeTasks();
    const stories = reconnect ? stream.asked.stories : [...stream.pendingStories];
    if (!tasks.length && !stories.length) {
      closeStream();
      setConnection("idle");
      return;
    }
    const params = new URLSearchParams();
    for (const task of tasks) params.append("task_id", task);
    for (const story of stories) params.append("story_id", story);
    const cursor = resumeCursor(reconnect);
    if (cursor) params.set("last_event_id", cursor);
    let url;
    try {
      url = await auth.streamUrl("/generate-test-cases/events", params);
    } catch (err) {
      if (generation === stream.generation) streamFailed();
      return;
    }
    if (generation !== stream.generation) return; // a newer reopen is under way
    closeStream(); // at most one EventSource at any time
    const es = new EventSource(url);
    stream.es = es;
    stream.covers = new Set(tasks);
    stream.asked = { tasks, stories };
    for (const name of EVENT_NAMES) es.addEventListener(name, (event) => onStreamEvent(es, event));
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

  function closeStream() {
    if (stream.es) {
      stream.es.close();
      stream.es = null;
    }
  }

  async function streamFailed() {
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

  async function refreshActive() {
    await Promise.all(
      activeTasks().map(async (taskId) => {
        try {
          const { data } = await api("GET", `/generate-test-cases/status/${enc(taskId)}`);
          applySnapshot(data);
        } catch (err) {
          if (err.status === 404) forgetTask(taskId);
        }
      }),
    );
  }

  function onStreamEvent(es, event) {
    if (es !== stream.es) return;
    const split = event.lastEventId.indexOf("=");
    if (split > 0) stream.positions.set(event.lastEventId.slice(0, split), event.lastEventId.slice(split + 1));
    stream.failures = 0;
    const snapshot = JSON.parse(event.data);
    stream.covers.add(snapshot.task_id);
    stream.pendingStories.delete(snapshot.story_id);
    applySnapshot(snapshot);
    if (!activeTasks().length && !stream.pendingStories.size) {
      // Every job this page follows has ended: nothing more will come, so no need to reconnect
      // just to hear the server's 204.
      closeStream();
      setConnection("idle");
    }
  }

  // --- jobs -----------------------------------------------------------------------------------------
  function isNewer(snapshot, previous) {
    const a = RANK[snapshot.status] ?? 0;
    const b = RANK[previous.status] ?? 0;
    if (a !== b) return a > b;
    return !TERMINAL.has(snapshot.status) && (snapshot.progress ?? 0) >= (previous.progress ?? 0);
  }

  function isLatestJobOfStory(snapshot) {
    const current = state.storyTask.get(snapshot.story_id);
    if (!current || current === snapshot.task_id) return true;
    const known = state.jobs.get(current);
    if (!known || !known.created_at || !snapshot.created_at) return false;
    return Date.parse(snapshot.created_at) > Date.parse(known.created_at);
  }

  function applySnapshot(snapshot) {
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

  function setNoWorker(warning) {
    if (state.noWorker === warning) return;
    state.noWorker = warning;
    for (const storyId of state.rows.keys()) renderStatus(storyId);
    if (warning) checkWorkers();
  }

  function checkWorkers() {
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

  function forgetTask(taskId) {
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
  function endedDuringVisit(job) {
    if (state.mine.has(job.task_id)) return true;
    const since = state.firstSeen.get(job.task_id);
    return since !== undefined && performance.now() - since >= 1000;
  }

  function jobEnded(job) {
    if (job.status === S.ready && !state.mine.has(job.task_id)) checkSaved(job.task_id);
    if (!endedDuringVisit(job)) return;
    if (job.status === S.ready) {
      const count = ((job.result && job.result.test_cases) || []).length;
      const text = `${job.story_id}: ${count} test cases ready for review`;
      groupedToast(S.ready, job.story_id, text, "ready for review", "success");
    } else if (job.status === S.error) {
      toast(`${job.story_id}: generation failed — ${(job.error && job.error.message) || job.message}`, "error", 8000);
    } else {
      toast(`${job.story_id}: generation cancelled`, "info");
    }
  }

  /** A restored draft may have been saved already (the stream's snapshot predates the save). */
  async function checkSaved(taskId) {
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

  async function generate(story, casesInput, scenariosInput, extra = {}) {
    const body = {
      num_test_cases: Number(casesInput.value),
      scenarios_per_test_case: Number(scenariosInput.value),
      ...extra,
    };
    const parts = state.rows.get(story.id);
    parts.generate.disabled = true;
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

  async function cancel(taskId) {
    try {
      const { data } = await api("POST", `/generate-test-cases/${enc(taskId)}/cancel`);
      applySnapshot(data);
    } catch (err) {
      toast(`Could not cancel: ${err.message}`, "error");
    }
  }

  // --- the stories table ----------------------------------------------------------------------------
  function renderStories() {
    const tbody = $("#stories tbody");
    state.rows.clear();
    tbody.replaceChildren(...state.stories.map(storyRow));
    $("#empty").hidden = state.stories.length > 0;
    for (const story of state.stories) renderStatus(story.id);
  }

  function storyRow(story) {
    const project = state.projects.get(story.project_id);
    const cases = h("input", { type: "number", min: 1, max: 50, value: 5, className: "opt-cases", title: "test cases" });
    const scenarios = h("input", {
      type: "number", min: 1, max: 10, value: 3, className: "opt-scenarios", title: "scenarios per test case",
    });
    const button = h("button", { type: "button", className: "generate" }, "Generate");
    button.addEventListener("click", () => {
      if (cases.reportValidity() && scenarios.reportValidity()) generate(story, cases, scenarios);
    });
    const status = h("td", { className: "status" });
    const format = formatSelect("story-export-format");
    const exportButton = h("button", { type: "button", className: "link export" }, "Export");
    exportButton.addEventListener("click", () =>
      exportFile(`/user-stories/${enc(story.id)}/test-cases/export`, format.value, story.id),
    );
    const jira = story.jira_url && /^https?:\/\//.test(story.jira_url);
    const row = h(
      "tr",
      { dataset: { story: story.id } },
      h(
        "td",
        { className: "id" },
        jira ? h("a", { href: story.jira_url, target: "_blank", rel: "noopener noreferrer", title: "Open in Jira" }, story.id) : story.id,
      ),
      h("td", { title: story.description || "" }, story.title),
      h("td", {}, project ? project.name : story.project_id === null ? "—" : `#${story.project_id}`),
      h("td", {}, story.priority),
      h("td", {}, String(story.acceptance_criteria.length), " ",
        window.TestgenDrafts.staleMarker(story, api, () => generate(story, cases, scenarios, { only_changed: true }))),
      h("td", { className: "generate" }, cases, " × ", scenarios, " ", button),
      status,
      h("td", { className: "export" }, format, " ", exportButton),
    );
    state.rows.set(story.id, { row, status, generate: button });
    return row;
  }

  function badge(job) {
    const saved = state.saved.get(job.task_id);
    const title = job.message || "";
    const status = job.status; // the badge's data-state, which the style sheet colours
    switch (job.status) {
      case S.waiting:
        if (state.noWorker) {
          return h("span", { className: "badge", dataset: { state: status, warning: "no-worker" },
            title: state.noWorker }, `Queued — ${state.noWorker}`);
        }
        return h("span", { className: "badge", dataset: { state: status }, title }, "Queued");
      case S.starting:
        return h("span", { className: "badge", dataset: { state: status }, title }, "Starting…");
      case S.running:
        return h(
          "span",
          { className: "badge", dataset: { state: status }, title },
          h("span", { className: "spinner", "aria-hidden": "true" }),
          `Generating ${job.progress ?? 0}%`,
          h("span", { className: "bar" }, h("i", { style: `width:${job.progress ?? 0}%` })),
        );
      case S.ready:
        if (saved) {
          const text = saved === true ? "Saved" : `Saved ${saved} test case${saved === 1 ? "" : "s"}`;
          return h("span", { className: "badge", dataset: { state: "saved" }, title }, text);
        }
        return h(
          "button",
          { type: "button", className: "badge", dataset: { state: status }, title: "Review the test cases",
            onclick: () => openReview(job.task_id) },
          "Ready for review",
        );
      case S.error:
        return h(
          "button",
          { type: "button", className: "badge", dataset: { state: status }, title: "Show the error",
            onclick: () => showError(job) },
          "Error",
        );
      default:
        return h("span", { className: "badge", dataset: { state: status }, title }, "Cancelled");
    }
  }

  function renderStatus(storyId) {
    const parts = state.rows.get(storyId);
    if (!parts) return;
    const taskId = state.storyTask.get(storyId);
    const job = taskId && state.jobs.get(taskId);
    if (!job) {
      parts.status.replaceChildren(h("span", { className: "muted" }, "—"));
      parts.generate.disabled = false;
      return;
    }
    const running = !TERMINAL.has(job.status);
    parts.status.replaceChildren(badge(job));
    if (running) {
      parts.status.append(
        h("button", { type: "button", className: "link cancel", onclick: () => cancel(job.task_id) }, "Cancel"),
      );
    }
    parts.generate.disabled = running;
  }

  // --- projects: each may choose its LLM provider and model ---------------------------------------
  function renderProjectTable() {
    const body = $("#projects tbody");
    const providers = state.providers;
    const fallback = providers.find((p) => p.default);
    body.replaceChildren(
      ...[...state.projects.values()].map((project) => {
        const select = h(
          "select",
          { name: "llm_provider", "aria-label": `LLM provider of ${project.name}` },
          h("option", { value: "" }, `server default (${fallback ? fallback.name : "?"})`),
          ...providers.map((p) => h("option", { value: p.name }, p.name)),
        );
        select.value = project.llm_provider || "";
        const defaultModel = () => {
          const chosen = providers.find((p) => p.name === select.value) || fallback;
          return chosen ? chosen.default_model : "";
        };
        const modelInput = h("input", {
          name: "llm_model",
          maxLength: 200,
          value: project.llm_model || "",
          placeholder: defaultModel(),
          "aria-label": `Model of ${project.name}`,
        });
        select.addEventListener("change", () => {
          modelInput.value = "";
          modelInput.placeholder = defaultModel();
        });
        const save = h("button", { type: "button", className: "link" }, "Save");
        save.addEventListener("click", async () => {
          save.disabled = true;
          try {
            const { data } = await api("PATCH", `/projects/${project.id}`, {
              llm_provider: select.value || null,
              llm_model: modelInput.value.trim() || null,
            });
            state.projects.set(data.id, data);
            renderProjectTable();
            const model = data.llm_model ? ` / ${data.llm_model}` : "";
            toast(`${data.name}: ${data.llm_provider || "server default"}${model}`, "success");
          } catch (err) {
            toast(err.message, "error");
          } finally {
            save.disabled = false;
          }
        });
        return h("tr", { dataset: { project: String(project.id) } },
          h("td", {}, project.name), h("td", {}, select), h("td", {}, modelInput), h("td", {}, save),
          h("td", {}, window.TestgenDrafts.projectTools(project, api, (data) => state.projects.set(data.id, data))));
      }),
    );
    $("#projects-empty").hidden = state.projects.size > 0;
  }

  // --- the add-a-story form -------------------------------------------------------------------------
  function renderProjects(selected) {
    const select = $("#project-select");
    const projects = [...state.projects.values()];
    select.replaceChildren(
      ...projects.map((p) => h("option", { value: String(p.id) }, p.name)),
      h("option", { value: NEW_PROJECT }, "+ New project…"),
    );
    select.value = selected !== undefined ? String(selected) : projects.length ? String(projects[0].id) : NEW_PROJECT;
    toggleNewProject();
  }

  function toggleNewProject() {
    const isNew = $("#project-select").value === NEW_PROJECT;
    $("#new-project-label").hidden = !isNew;
    field($("#story-form"), "new_project").required = isNew;
  }

  async function submitStory(event) {
    event.preventDefault();
    const form = event.target;
    const error = $("#form-error");
    error.textContent = "";
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const value = (name) => field(form, name).value;
      let projectId = value("project_id");
      if (projectId === NEW_PROJECT) {
        const { data: project } = await api("POST", "/projects", {
          name: value("new_project").trim(),
        });
        state.projects.set(project.id, project);
        projectId = project.id;
        renderProjects(project.id);
        renderProjectTable();
      }
      const criteria = value("acceptance_criteria").split("\n").map((l) => l.trim()).filter(Boolean);
      const { data: story } = await api("POST", "/user-stories", {
        id: value("id").trim(),
        title: value("title"),
        description: value("description"),
        acceptance_criteria: criteria,
        priority: value("priority"),
        project_id: Number(projectId),
      });
      state.stories.push(story);
      renderStories();
      toast(`Added ${story.id}`, "success");
      for (const name of ["id", "title", "description", "acceptance_criteria", "new_project"]) {
        field(form, name).value = "";
      }
      field(form, "id").focus();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  }

  // --- error detail -------------------------------------------------------------------------------
  function showError(job) {
    const error = job.error || { type: "error", message: job.message || "unknown error" };
    $("#error-title").textContent = `${job.story_id}: generation failed`;
    $("#error-type").textContent = `${error.type} · task ${job.task_id}`;
    $("#error-detail").textContent = error.message;
    $("#error-dialog").showModal();
  }

  // --- review ---------------------------------------------------------------------------------------
  const review = { taskId: null, storyId: null, cases: [] };

  function stepsText(scenario) {
    const lines = [];
    for (const [keyword, steps] of [["Given", scenario.given], ["When", scenario.when], ["Then", scenario.then]]) {
      steps.forEach((step, i) => lines.push(`${i === 0 ? keyword : "And"} ${step}`));
    }
    return lines.join("\n");
  }

  /** "Given …/And …/When …/Then …" lines back into the three step lists. */
  function parseSteps(text) {
    const steps = { given: [], when: [], then: [] };
    let section = "given";
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line) continue;
      const match = /^(given|when|then|and|but|\*)\s+(.*)$/i.exec(line);
      let content = line;
      if (match) {
        const keyword = match[1].toLowerCase();
        if (keyword === "given" || keyword === "when" || keyword === "then") section = keyword;
        content = match[2].trim();
      }
      if (content) steps[section].push(content);
    }
    return steps;
  }

  function caseCard(testCase, index) {
    const select = (options, value, className) =>
      h("select", { className }, ...options.map((o) => h("option", { value: o, selected: o === value }, o)));
    const card = h(
      "div",
      { className: "case", dataset: { index: String(index) } },
      h(
        "div",
        { className: "case-head" },
        h("span", { className: "num" }, `#${index + 1}`),
        h("input", { className: "case-title", value: testCase.title, maxLength: 200, required: true, "aria-label": "title" }),
        select(PRIORITIES, testCase.priority, "case-priority"),
        select(TEST_TYPES, testCase.test_type, "case-type"),
        h("button", { type: "button", className: "danger small case-delete", onclick: () => deleteCase(card) }, "Delete"),
      ),
      testCase.description ? h("div", { className: "muted" }, testCase.description) : null,
      ...testCase.scenarios.map((scenario) =>
        h(
          "div",
          { className: "scenario" },
          h("input", { className: "scenario-title", value: scenario.title, "aria-label": "scenario title" }),
          h("textarea", {
            className: "scenario-steps",
            rows: scenario.given.length + scenario.when.length + scenario.then.length,
            value: stepsText(scenario),
            "aria-label": "steps",
          }),
        ),
      ),
    );
    return card;
  }

  function deleteCase(card) {
    card.remove();
    updateReviewCount();
  }

  function updateReviewCount() {
    const left = $("#review-cases").querySelectorAll(".case").length;
    $("#review-save").disabled = left === 0 || state.saved.has(review.taskId);
    $("#review-save").textContent = left === review.cases.length ? "Save all" : `Save all (${left})`;
  }

  async function openReview(taskId) {
    let job;
    try {
      ({ data: job } = await api("GET", `/generate-test-cases/status/${enc(taskId)}`));
    } catch (err) {
      toast(`Could not load the draft: ${err.message}`, "error");
      return;
    }
    if (job.saved_at) {
      state.saved.set(taskId, state.saved.get(taskId) || true);
      renderStatus(job.story_id);
      toast(`${job.story_id}: this draft was saved already`);
      return;
    }
    const cases = (job.result && job.result.test_cases) || [];
    review.taskId = taskId;
    review.storyId = job.story_id;
    review.cases = cases;
    const stats = (job.result && job.result.stats) || {};
    $("#review-title").textContent = `Review ${job.story_id}: ${cases.length} suggested test cases`;
    const by = job.result ? ` by ${job.result.provider}/${job.result.model}` : "";
    $("#review-summary").textContent =
      `${stats.scenarios ?? "?"} scenarios${by}. ` +
      "Edit or delete test cases, then save the ones you keep.";
    $("#review-cases").replaceChildren(...cases.map(caseCard));
    window.TestgenDrafts.decorateReview(job, $("#review-cases"));
    $("#review-status").textContent = "";
    $("#review-discard").disabled = false;
    updateReviewCount();
    $("#review").showModal();
  }

  function collectCases() {
    const drafts = [];
    for (const card of $("#review-cases").querySelectorAll(".case")) {
      const original = review.cases[Number(card.dataset.index)];
      const number = Number(card.dataset.index) + 1;
      const title = $(".case-title", card).value.trim();
      if (!title) throw new Error(`Test case #${number} needs a title`);
      const scenarios = [...card.querySelectorAll(".scenario")].map((el, i) => {
        const steps = parseSteps($(".scenario-steps", el).value);
        const missing = ["given", "when", "then"].filter((k) => !steps[k].length);
        $(".scenario-steps", el).classList.toggle("invalid", missing.length > 0);
        if (missing.length) {
          throw new Error(`Test case #${number}, scenario ${i + 1}: add a ${missing.map((m) => m[0].toUpperCase() + m.slice(1)).join(", ")} step`);
        }
        return { title: $(".scenario-title", el).value.trim() || original.scenarios[i].title, ...steps };
      });
      drafts.push({
        ...original,
        title,
        priority: $(".case-priority", card).value,
        test_type: $(".case-type", card).value,
        scenarios,
      });
    }
    return drafts;
  }

  async function saveReview() {
    const status = $("#review-status");
    let drafts;
    try {
      drafts = collectCases();
    } catch (err) {
      status.textContent = err.message;
      status.className = "error-text";
      return;
    }
    $("#review-save").disabled = true;
    try {
      const keep = window.TestgenDrafts.keptRepeats($("#review-cases"));
      const { data } = await api("POST", `/generate-test-cases/${enc(review.taskId)}/save`, { test_cases: drafts, keep });
      state.saved.set(review.taskId, data.saved);
      const skipped = data.skipped.length ? `; skipped ${data.skipped.length} repeated scenarios` : "";
      status.textContent = `Saved ${data.saved} test case${data.saved === 1 ? "" : "s"}${skipped}`;
      status.className = "saved-count";
      $("#review-discard").disabled = true;
      renderStatus(review.storyId);
      toast(`${review.storyId}: saved ${data.saved} test cases`, "success");
    } catch (err) {
      status.textContent = err.message;
      status.className = "error-text";
      $("#review-save").disabled = false;
    }
  }

  async function discardReview() {
    try {
      await api("DELETE", `/generate-test-cases/${enc(review.taskId)}`);
      forgetTask(review.taskId);
      $("#review").close();
      toast(`${review.storyId}: draft discarded`);
    } catch (err) {
      $("#review-status").textContent = err.message;
      $("#review-status").className = "error-text";
    }
  }

  // --- exports ------------------------------------------------------------------------------------------
  function formatSelect(className) {
    return h(
      "select",
      { className, "aria-label": "Export format" },
      EXPORT_FORMATS.map(([value, label]) => h("option", { value }, label)),
    );
  }

  /** Download an export through fetch (so the API key goes along), saved under the server's name. */
  async function exportFile(path, format, hint) {
    const params = new URLSearchParams({ format });
    if (format === "xray-json") {
      const guess = (hint.split("-")[0] || "").toUpperCase();
      const key = window.prompt("Jira project key for the Xray tests", /^[A-Z][A-Z0-9_]*$/.test(guess) ? guess : "");
      if (!key) return;
      params.set("project_key", key.trim().toUpperCase());
    }
    let response;
    try {
      response = await fetch(`${path}?${params}`, { headers: auth.headers() });
    } catch {
      toast("Export failed: cannot reach the testgen server", "error");
      return;
    }
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      toast(`Export failed: ${describeError(data, response)}`, "error", 8000);
      return;
    }
    const blob = await response.blob();
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = h("a", { href: URL.createObjectURL(blob), download: match ? match[1] : "export" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  function renderExportProjects() {
    const select = $("#export-project");
    const jiraSelect = $("#jira-project");
    const projects = [...state.projects.values()];
    const previous = [select.value, jiraSelect.value];
    select.replaceChildren(...projects.map((p) => h("option", { value: String(p.id) }, p.name)));
    jiraSelect.replaceChildren(...projects.map((p) => h("option", { value: String(p.id) }, p.name)));
    if (state.projects.has(Number(previous[0]))) select.value = previous[0];
    if (state.projects.has(Number(previous[1]))) jiraSelect.value = previous[1];
    $("#export-project-button").disabled = !projects.length;
  }

  // --- the Jira import dialog: its own EventSource on the job's event stream while it runs ----------
  const jira = { es: null, taskId: null };

  function openJira() {
    if (!state.projects.size) {
      toast("Add a project first (with a story), then import into it", "error");
      return;
    }
    if (!jira.taskId) {
      $("#jira-summary").hidden = true;
      $("#jira-progress").hidden = true;
      $("#jira-error").textContent = "";
    }
    $("#jira-dialog").showModal();
  }

  async function startJira(event) {
    event.preventDefault();
    const form = $("#jira-form");
    const projectId = Number(field(form, "project_id").value);
    $("#jira-error").textContent = "";
    $("#jira-summary").hidden = true;
    $("#jira-start").disabled = true;
    try {
      const { data } = await api("POST", `/projects/${projectId}/imports/jira`, { jql: field(form, "jql").value });
      followJira(data);
    } catch (err) {
      $("#jira-error").textContent = err.message;
      $("#jira-start").disabled = false;
    }
  }

  async function followJira(queued) {
    jira.taskId = queued.task_id;
    showJiraProgress({ status: queued.status, progress: 0, message: "Queued" });
    $("#jira-cancel").hidden = false;
    let url;
    try {
      url = await auth.streamUrl(queued.events_url, new URLSearchParams());
    } catch (err) {
      $("#jira-error").textContent = err.message;
      return;
    }
    if (jira.es) jira.es.close();
    const es = new EventSource(url);
    jira.es = es;
    for (const name of EVENT_NAMES) {
      es.addEventListener(name, (e) => {
        const snapshot = JSON.parse(e.data);
        showJiraProgress(snapshot);
        if (TERMINAL.has(snapshot.status)) {
          es.close();
          jiraEnded(snapshot);
        }
      });
    }
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED && jira.es === es) {
        jira.es = null;
        // The stream was refused or the job ended before we connected: ask for its state once.
        api("GET", `/generate-test-cases/status/${enc(queued.task_id)}`)
          .then(({ data }) => {
            showJiraProgress(data);
            if (TERMINAL.has(data.status)) jiraEnded(data);
          })
          .catch((err) => ($("#jira-error").textContent = err.message));
      }
    };
  }

  function showJiraProgress(snapshot) {
    $("#jira-progress").hidden = false;
    $("#jira-bar").value = snapshot.progress || 0;
    $("#jira-message").textContent = snapshot.message || snapshot.status;
  }

  function jiraEnded(job) {
    jira.taskId = null;
    $("#jira-cancel").hidden = true;
    $("#jira-start").disabled = false;
    const summary = $("#jira-summary");
    summary.hidden = false;
    if (job.status === S.ready) {
      const result = job.result || {};
      const counts = result.counts || {};
      const list = (title, items, className) =>
        items && items.length
          ? h("details", { className }, h("summary", {}, `${title} (${items.length})`), h("ul", {}, items.map((i) => h("li", {}, i))))
          : null;
      summary.replaceChildren(
        h(
          "p",
          { className: "jira-counts" },
          `${counts.created || 0} created, ${counts.updated || 0} updated, ${counts.unchanged || 0} unchanged, ` +
            `${counts.skipped || 0} skipped`,
        ),
        list("Created", result.created, "jira-created"),
        list("Updated", result.updated, "jira-updated"),
        list("Skipped", (result.skipped || []).map((s) => `${s.key}: ${s.reason}`), "jira-skipped"),
      );
      load().catch((err) => toast(err.message, "error"));
    } else if (job.status === S.error) {
      const error = job.error || { type: "error", message: job.message };
      summary.replaceChildren(h("p", { className: "error-text" }, `Import failed (${error.type}): ${error.message}`));
    } else {
      summary.replaceChildren(h("p", {}, "Import cancelled; the stories read before stay imported."));
      load().catch((err) => toast(err.message, "error"));
    }
  }

  async function cancelJira() {
    if (!jira.taskId) return;
    try {
      await api("POST", `/generate-test-cases/${enc(jira.taskId)}/cancel`);
    } catch (err) {
      $("#jira-error").textContent = err.message;
    }
  }

  // --- loading --------------------------------------------------------------------------------------
  async function load() {
    const [{ data: projects }, { data: stories }, { data: providers }] = await Promise.all([
      api("GET", "/projects?limit=500"),
      api("GET", `/user-stories?limit=${STORY_LIMIT}`),
      api("GET", "/projects/providers"),
    ]);
    state.projects = new Map(projects.map((p) => [p.id, p]));
    state.providers = providers;
    renderProjectTable();
    state.stories = stories;
    const selected = $("#project-select").value;
    renderProjects(state.projects.has(Number(selected)) ? Number(selected) : undefined);
    renderExportProjects();
    renderStories();
    // Restore badges: follow the latest job of every story we know nothing about yet.
    let added = false;
    for (const story of stories) {
      if (!state.storyTask.has(story.id) && !stream.pendingStories.has(story.id)) {
        stream.pendingStories.add(story.id);
        added = true;
      }
    }
    if (added) scheduleStream(0);
  }

  function start() {
    auth.setKey(auth.key());
    setConnection("idle");
    $("#story-form").addEventListener("submit", submitStory);
    $("#project-select").addEventListener("change", toggleNewProject);
    $("#review-save").addEventListener("click", saveReview);
    $("#review-discard").addEventListener("click", discardReview);
    $("#refresh").addEventListener("click", () => load().catch((err) => toast(err.message, "error")));
    $("#export-project-format").replaceChildren(...formatSelect("").children);
    $("#export-project-button").addEventListener("click", () => {
      const project = state.projects.get(Number($("#export-project").value));
      if (project) exportFile(`/projects/${project.id}/test-cases/export`, $("#export-project-format").value, project.name);
    });
    $("#jira-open").addEventListener("click", openJira);
    $("#jira-form").addEventListener("submit", startJira);
    $("#jira-cancel").addEventListener("click", cancelJira);
    $("#key-button").addEventListener("click", () => askForKey("").then(() => load()));
    load().catch((err) => {
      toast(`Could not load the stories: ${err.message}`, "error", 10000);
    });
    window.testgen = { state, stream, jira }; // for the curious (and the browser tests)
  }

  document.addEventListener("DOMContentLoaded", start);
})();
