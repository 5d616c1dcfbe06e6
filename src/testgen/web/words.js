// The words of the page's accounts, roles, review gate and history: the message of the page's table
// (i18n.js) when it has one, else the English text here. Each key is named as the message tables
// (core/locales/<lang>.json) would name it, so that a table that gains a key is used at once.
import { translate } from "./i18n.js";

/** @type {Object<string, string>} key -> its English text ({name} is filled in) */
export const ENGLISH = {
  "dialog.close": "Close",

  "account.sign_in_title": "Sign in",
  "account.email": "Email",
  "account.password": "Password",
  "account.sign_in": "Sign in",
  "account.sso": "Sign in with single sign-on",
  "account.or_key": "Or use an API key (one of the server's API_KEYS, or a personal API token):",
  "account.session_ended": "Your session ended: sign in again.",
  "account.menu": "Your account",
  "account.tokens": "API tokens",
  "account.users": "Users",
  "account.sign_out": "Sign out",
  "account.forget_key": "Forget the API key",
  "account.service": "API key",
  "account.local": "Local admin",

  "tokens.title": "API tokens",
  "tokens.help": "A personal API token lets the command line and other programs act as you, with your roles: "
    + "send it as 'Authorization: Bearer <token>'. Revoke a token you no longer use.",
  "tokens.name": "Name",
  "tokens.name_placeholder": "ci, laptop, …",
  "tokens.prefix": "Token",
  "tokens.created": "Created",
  "tokens.last_used": "Last used",
  "tokens.never_used": "never",
  "tokens.actions": "Actions",
  "tokens.none": "No tokens yet.",
  "tokens.create": "Create token",
  "tokens.new_token": "The new token",
  "tokens.shown_once": "The token {name}: it is shown this once only, copy it now.",
  "tokens.copy": "Copy",
  "tokens.copied": "Token copied",
  "tokens.copy_by_hand": "The browser did not copy it: the token is selected, copy it with Ctrl+C.",
  "tokens.revoke": "Revoke",
  "tokens.revoke_named": "Revoke the token {name}",
  "tokens.revoke_title": "Revoke the token {name}?",
  "tokens.revoke_text": "Programs that use it are refused from their next request on. This cannot be undone.",
  "tokens.revoked": "Token {name} revoked",

  "users.title": "Users",
  "users.name": "Name",
  "users.email": "Email",
  "users.password": "Password",
  "users.password_optional": "empty: single sign-on only",
  "users.password_help": "At least {min} characters; empty: the user signs in through single sign-on only",
  "users.is_admin": "Server admin",
  "users.is_admin_of": "{name} is a server admin",
  "users.state": "State",
  "users.active": "active",
  "users.inactive": "deactivated",
  "users.add": "Add a user",
  "users.create": "Add user",
  "users.created": "{email} can sign in now",
  "users.updated": "{name} changed",
  "users.deactivate": "Deactivate",
  "users.reactivate": "Reactivate",
  "users.deactivated": "{name} deactivated: their sessions and tokens are refused",
  "users.reactivated": "{name} reactivated",
  "users.reset_password": "Reset password",
  "users.new_password": "New password",
  "users.new_password_of": "New password of {name}",
  "users.set_password": "Set password",
  "users.password_set": "New password of {name} set",

  "members.open": "Members",
  "members.open_named": "Members of {name}",
  "members.title": "Members of {project}",
  "members.help": "Viewers read and export; editors also write stories and drafts; reviewers also approve "
    + "and save drafts; admins also change the project and its members.",
  "members.email": "Email",
  "members.email_placeholder": "someone@example.com",
  "members.role": "Role",
  "members.role_of": "Role of {name}",
  "members.role_changed": "Role changed",
  "members.add_title": "Add a member",
  "members.add": "Add member",
  "members.added": "{name} is a {role} of {project} now",
  "members.inactive": "(deactivated)",
  "members.remove": "Remove",
  "members.remove_named": "Remove {name}",
  "members.remove_title": "Remove {name} from {project}?",
  "members.remove_text": "{name} no longer sees the project's stories and test cases.",
  "members.removed": "{name} removed",

  "gate.settings": "Review",
  "gate.review_required": "Drafts need an approved review before they are saved",
  "gate.allow_self_approval": "Reviewers may approve their own drafts",
  "gate.state": "Review: {state}",
  "gate.in_review": "in review",
  "gate.approved": "approved",
  "gate.changes_requested": "changes requested",
  "gate.required": "This project saves a draft only once a reviewer approved it.",
  "gate.step_submit": "submitted it for review",
  "gate.step_approve": "approved it",
  "gate.step_request_changes": "asked for changes",
  "gate.submit": "Submit for review",
  "gate.approve": "Approve",
  "gate.request_changes": "Request changes",
  "gate.comment": "Comment",
  "gate.comment_placeholder": "What the author or the reviewer should know",
  "gate.case_comment": "Comment on #{n}",
  "gate.done": "Done: you {step}.",
  "gate.approved_by": "Approved by {name} on {date}",
  "gate.user_number": "user #{id}",

  "inbox.button": "Review inbox",
  "inbox.button_label": "Review inbox: {count} drafts await your review",
  "inbox.title": "Drafts awaiting your review",
  "inbox.empty": "No draft awaits your review.",
  "inbox.story": "Story",
  "inbox.project": "Project",
  "inbox.submitted_by": "Submitted by",
  "inbox.since": "Since",
  "inbox.open": "Open",
  "inbox.open_named": "Open the draft of {id}",

  "history.title": "History",
  "history.loading": "Loading the history…",
  "history.none": "No changes recorded yet.",
  "history.unavailable": "This server keeps no history of stories.",
  "history.when": "When",
  "history.who": "Who",
  "history.what": "What",
  "history.fields": "Fields",
};

/**
 * Message `key` with its {params} filled in: the page's table's, else the English one here.
 * @param {string} key
 * @param {Object<string, string | number>} [params]
 */
export function word(key, params = {}) {
  const text = translate(key, params);
  if (text !== key) return text;
  const english = ENGLISH[key];
  if (english === undefined) return key;
  return english.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}
