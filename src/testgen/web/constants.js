// Constants of the page. The job statuses come from the server (/static/job-states.js, built from
// data/job_states.py): the page branches on their roles and never spells a status itself.
export const JOB = window.TESTGEN_JOB_STATES;
export const S = JOB.roles;
export const TERMINAL = new Set(JOB.terminal);
export const RANK = Object.fromEntries(JOB.statuses.map((s, i) => [s, TERMINAL.has(s) ? JOB.statuses.length : i]));
export const EVENT_NAMES = JOB.events;
// Stories per page of the list (GET /user-stories?limit=&offset=); the restore stream names each once.
export const STORY_PAGE = 50;
// The list's state filter (GET /user-stories?state=): the server's story states, with their labels.
const STORY_STATE_LABELS = {
  no_tests: "No tests yet",
  draft_ready: "Draft ready",
  running: "Running",
  failed: "Failed",
};
export const STORY_STATES = JOB.story_states.map((name) => [name, STORY_STATE_LABELS[name] || name]);
// What a badge says for each job role (also what is announced to screen readers).
export const ROLE_LABELS = {
  waiting: "Queued",
  starting: "Starting…",
  running: "Generating",
  ready: "Ready for review",
  error: "Error",
  stopped: "Cancelled",
};
export const ROLE_OF = Object.fromEntries(Object.entries(S).map(([role, status]) => [status, role]));
// What to do about a failed job, by its error type (the message itself says what went wrong).
export const ERROR_HINTS = {
  upstream: "The model server failed or could not be reached: check that it is up, then Retry.",
  invalid_request: "The model server refused the request: check the project's model and the server's settings.",
  auth: "The model server refused the server's key: fix the key in the server's settings, then Retry.",
  model_not_found: "Choose a model that exists for this project (Projects and their model), then Retry.",
  input_too_long: "Shorten the story's description or criteria, or ask for fewer test cases, then Retry.",
  rate_limit: "The model's quota ran out for now: Retry in a minute.",
  timeout: "Ask for fewer test cases or scenarios, then Retry.",
  worker_lost: "The worker running it stopped several times: check the worker's logs, then Retry.",
  bad_output: "The model answered with something unusable: Retry, or choose another model for the project.",
};
export const DEFAULT_ERROR_HINT =
  "Retry. If it fails again, the message above says what to change; the server's logs have the details.";
export const PRIORITIES = ["low", "medium", "high", "critical"];
export const TEST_TYPES = ["functional", "negative", "boundary", "security", "usability", "performance"];
export const NEW_PROJECT = "__new__";
// Export formats (GET …/test-cases/export?format=): value -> label.
export const EXPORT_FORMATS = [
  ["gherkin", "Gherkin"],
  ["gherkin-tagged", "Gherkin (tagged, Rules)"],
  ["testrail-csv", "TestRail CSV"],
  ["xray-json", "Xray JSON"],
  ["csv", "CSV"],
  ["json", "JSON"],
];
