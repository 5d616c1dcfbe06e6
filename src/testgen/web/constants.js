// Constants of the page. The job statuses come from the server (/static/job-states.js, built from
// data/job_states.py): the page branches on their roles and never spells a status itself.
export const JOB = window.TESTGEN_JOB_STATES;
export const S = JOB.roles;
export const TERMINAL = new Set(JOB.terminal);
export const RANK = Object.fromEntries(JOB.statuses.map((s, i) => [s, TERMINAL.has(s) ? JOB.statuses.length : i]));
export const EVENT_NAMES = JOB.events;
export const STORY_LIMIT = 200; // GET /user-stories default page; the restore stream names each story once
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
