// Constants of the page. The job statuses come from the server (/static/job-states.js, built from
// data/job_states.py): the page branches on their roles and never spells a status itself.
import { t } from "./i18n.js";
export const JOB = window.TESTGEN_JOB_STATES;
export const S = JOB.roles;
export const TERMINAL = new Set(JOB.terminal);
export const RANK = Object.fromEntries(JOB.statuses.map((s, i) => [s, TERMINAL.has(s) ? JOB.statuses.length : i]));
export const EVENT_NAMES = JOB.events;
// Stories per page of the list (GET /user-stories?limit=&offset=); the restore stream names each once.
export const STORY_PAGE = 50;
// The list's state filter (GET /user-stories?state=): the server's story states, with their labels.
export const STORY_STATES = JOB.story_states.map((name) => [name, t(`story_state.${name}`)]);
// What a badge says for each job role (also what is announced to screen readers).
export const ROLE_LABELS = Object.fromEntries(
  ["waiting", "starting", "running", "ready", "error", "stopped"].map((role) => [role, t(`role.${role}`)]),
);
export const ROLE_OF = Object.fromEntries(Object.entries(S).map(([role, status]) => [status, role]));
// What to do about a failed job, by its error type (the message itself says what went wrong).
const HINTED = ["upstream", "invalid_request", "auth", "model_not_found", "input_too_long", "rate_limit",
  "timeout", "worker_lost", "bad_output", "budget", "nothing_changed"];
export const ERROR_HINTS = Object.fromEntries(HINTED.map((type) => [type, t(`hint.${type}`)]));
export const DEFAULT_ERROR_HINT = t("hint.default");
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
