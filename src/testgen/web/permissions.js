// Who is asking (GET /auth/me) and what their role lets them do in each project. The page offers only
// what the caller's role allows (the server refuses the rest anyway): viewers read and export, editors
// write stories and drafts, reviewers also approve and save, project admins run their project; server
// admins (and API_KEYS, and the local admin of a server without users) may do everything.
import { PROJECT_ROLES } from "./constants.js";

/**
 * @typedef {import("./types.js").Me} Me
 */

/** @type {{ me: Me | null }} the caller, once known */
export const account = { me: null };

/** @param {Me} me */
export function setMe(me) {
  account.me = me;
}

/**
 * A role's place among the roles (each allows what the ones before it allow).
 * @param {string} role
 */
function rank(role) {
  const place = PROJECT_ROLES.indexOf(role);
  if (place < 0) throw new Error(`${role}: not a project role of this server (${PROJECT_ROLES.join(", ")})`);
  return place;
}

export function isServerAdmin() {
  return Boolean(account.me && account.me.is_admin);
}

/**
 * The caller's role in a project (null: not a member; server admins are admins of every project).
 * @param {number | null | undefined} projectId
 * @returns {string | null}
 */
export function roleIn(projectId) {
  const me = account.me;
  if (!me) return null;
  if (me.is_admin) return PROJECT_ROLES[PROJECT_ROLES.length - 1];
  const found = me.projects.find((membership) => membership.project_id === projectId);
  return found ? found.role : null;
}

/**
 * Whether the caller's role in the project allows what needs `needed`.
 * @param {number | null | undefined} projectId
 * @param {string} needed  a project role (PROJECT_ROLE.editor, …)
 */
export function can(projectId, needed) {
  const role = roleIn(projectId);
  return role !== null && rank(role) >= rank(needed);
}

/**
 * Whether the caller has at least `needed` in some project.
 * @param {string} needed
 */
export function canSomewhere(needed) {
  const me = account.me;
  return Boolean(me && (me.is_admin || me.projects.some((membership) => rank(membership.role) >= rank(needed))));
}

/** The signed-in user's id (null for an API key or the local admin). */
export function myUserId() {
  const me = account.me;
  return me && me.user ? me.user.id : null;
}
