// The server's enums and limits as the page uses them. All come from the server, in scripts run before
// the modules: the job statuses from /static/job-states.js (data/job_states.py), the priorities, test
// types, export formats, project roles, review states and actions, error hints and input bounds from
// /static/client-constants.js (api/client_constants.py), with the kinds of connection, their settings
// and the names of their secrets. The page spells none of them.
import { translate } from "./i18n.js";

/** @type {import("./types.js").JobStates} */
export const JOB_STATES = /** @type {any} */ (window).TESTGEN_JOB_STATES;
/** @type {import("./types.js").ClientConstants} */
const SERVER = /** @type {any} */ (window).TESTGEN_CONSTANTS;

export const ROLE_STATUS = JOB_STATES.roles;
export const TERMINAL = new Set(JOB_STATES.terminal);
/** @type {Object<string, number>} a status's place in a job's life (every terminal one last) */
export const STATUS_RANK = Object.fromEntries(
  JOB_STATES.statuses.map((s, i) => [s, TERMINAL.has(s) ? JOB_STATES.statuses.length : i]),
);
export const EVENT_NAMES = JOB_STATES.events;
/** @type {Object<string, string>} status -> the role it plays */
export const STATUS_ROLE = Object.fromEntries(Object.entries(ROLE_STATUS).map(([role, status]) => [status, role]));
// What a badge says for each job role (also what is announced to screen readers).
/** @type {Object<string, string>} */
export const ROLE_LABELS = Object.fromEntries(Object.keys(ROLE_STATUS).map((role) => [role, translate(`role.${role}`)]));

// Stories per page of the list (GET /user-stories?limit=&offset=); the restore stream names each once.
export const STORY_PAGE = 50;
// The list's state filter (GET /user-stories?state=): the server's story states, with their labels.
export const STORY_STATES = JOB_STATES.story_states.map((name) => [name, translate(`story_state.${name}`)]);

export const PRIORITIES = SERVER.priorities;
export const DEFAULT_PRIORITY = SERVER.default_priority;
export const TEST_TYPES = SERVER.test_types;
// The test-design techniques a job or a project may name (domain/techniques.py).
export const TECHNIQUES = SERVER.techniques;
// Export formats (GET …/test-cases/export?format=), in the order of the menus.
export const EXPORT_FORMATS = SERVER.export_formats;
// Frameworks of the automation skeletons (GET …/test-cases/automation?framework=).
/** @type {import("./types.js").AutomationChoice[]} */
export const AUTOMATION_FRAMEWORKS = SERVER.automation_frameworks;
export const LIMITS = SERVER.limits;
/**
 * An enum's values by their own names (`PROJECT_ROLE.editor`), so that the page names each value it
 * branches on without spelling it.
 * @param {string[]} values
 * @returns {any}
 */
const byName = (values) => Object.fromEntries(values.map((value) => [value, value]));
/** @type {string[]} the roles of a project's members, lowest first (domain/roles.py Role) */
export const PROJECT_ROLES = SERVER.roles;
/** @type {import("./types.js").ProjectRoles} */
export const PROJECT_ROLE = byName(SERVER.roles);
/** @type {import("./types.js").ReviewStates} */
export const REVIEW_STATE = byName(SERVER.review_states);
/** @type {import("./types.js").ReviewActions} */
export const REVIEW_ACTION = byName(SERVER.review_actions);

/** @type {import("./types.js").ConnectionKindChoice[]} the kinds of connection, their settings and secrets */
export const CONNECTION_KINDS = SERVER.connection_kinds;

// The project menu's choice "a new project…" (not a project id).
export const NEW_PROJECT = "__new__";

/**
 * What to do about a failed job, by its error type (the message itself says what went wrong).
 * @param {string} type
 */
export function errorHint(type) {
  return translate(SERVER.error_hints[type] ?? SERVER.default_hint);
}
