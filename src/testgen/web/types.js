// The shapes the page shares, as JSDoc types for `tsc --checkJs` (see jsconfig.json). No code: the
// modules name these in their JSDoc (`import("./types.js").Job`), so a wrong field name is an error.

/**
 * The job statuses, their sets and roles (window.TESTGEN_JOB_STATES, from data/job_states.py).
 * @typedef {object} JobStates
 * @property {string[]} statuses  every status, in the order a job goes through them
 * @property {string[]} active
 * @property {string[]} terminal
 * @property {RoleStatus} roles
 * @property {string[]} events  the event names of a job's stream
 * @property {string[]} story_states  the story list's state filter
 */

/**
 * The status that plays each role; the page branches on roles and never spells a status.
 * @typedef {object} RoleStatus
 * @property {string} waiting
 * @property {string} starting
 * @property {string} running
 * @property {string} ready
 * @property {string} error
 * @property {string} stopped
 */

/**
 * What one input may hold, as the API checks it (api/client_constants.py `Bounds`).
 * @typedef {object} Bounds
 * @property {number|string} [default]
 * @property {number} [minimum]
 * @property {number} [maximum]
 * @property {number} [min_length]
 * @property {number} [max_length]
 * @property {string} [pattern]  as an HTML `pattern` attribute takes it
 */

/**
 * The bounded inputs of the page, by group (the request field or parameter each fills).
 * @typedef {object} Limits
 * @property {{ num_test_cases: Bounds, scenarios_per_test_case: Bounds }} generate
 * @property {{ id: Bounds, title: Bounds, language: Bounds }} story
 * @property {{ name: Bounds, llm_model: Bounds, language: Bounds, instructions: Bounds,
 *   token_budget_daily: Bounds }} project
 * @property {{ title: Bounds, examples_cell: Bounds, examples_column: Bounds }} test_case
 * @property {{ jql: Bounds, wiql: Bounds }} jira
 * @property {{ instruction: Bounds, num_test_cases: Bounds }} refine
 * @property {{ sign_in_email: Bounds, sign_in_password: Bounds, email: Bounds, name: Bounds, password: Bounds,
 *   token_name: Bounds, member_email: Bounds }} account
 * @property {{ name: Bounds, secret: Bounds }} connection
 * @property {{ story_search: Bounds, projects_page: Bounds, users_page: Bounds }} lists
 * @property {{ batches: Bounds }} stream
 */

/**
 * @typedef {object} ExportChoice
 * @property {string} value  the `?format=` of an export
 * @property {string} label
 * @property {boolean} needs_project_key  the export asks for the Jira project (`?project_key=`)
 */

/**
 * @typedef {object} AutomationChoice
 * @property {string} value  the `?framework=` of an automation skeleton
 * @property {string} label
 */

/**
 * The enums and limits of the page (window.TESTGEN_CONSTANTS, from api/client_constants.py).
 * @typedef {object} ClientConstants
 * @property {string[]} priorities
 * @property {string} default_priority
 * @property {string[]} test_types
 * @property {string[]} techniques
 * @property {ExportChoice[]} export_formats
 * @property {AutomationChoice[]} automation_frameworks
 * @property {string[]} roles  a project member's roles, lowest first
 * @property {string[]} review_states
 * @property {string[]} review_actions
 * @property {Object<string, string>} error_hints  error type -> the message key of its hint
 * @property {string} default_hint  the message key for a type the server did not list
 * @property {Limits} limits
 * @property {ConnectionKindChoice[]} connection_kinds
 */

/**
 * One setting of a kind of connection, as its create body takes it.
 * @typedef {object} ConnectionField
 * @property {string} name
 * @property {string} input  text, number or choice
 * @property {boolean} required  a new connection must give it
 * @property {boolean} nullable  null clears it
 * @property {string[]} [choices]  input "choice": its values
 * @property {Bounds} bounds
 */

/**
 * A kind of connection (window.TESTGEN_CONSTANTS.connection_kinds): its settings and its secrets' names.
 * @typedef {object} ConnectionKindChoice
 * @property {string} kind
 * @property {string} label
 * @property {ConnectionField[]} settings
 * @property {string[]} secrets  all required on create; never answered
 * @property {boolean} push_target  a push may go to it
 */

/**
 * The page's message table (window.TESTGEN_MESSAGES, from core/locales/<lang>.json).
 * @typedef {object} MessageTable
 * @property {string} language
 * @property {string[]} languages
 * @property {Object<string, string>} messages
 * @property {Object<string, string>} source  the English table, which index.html is written in
 */

/**
 * @typedef {object} GenerateOptions
 * @property {number} num_test_cases
 * @property {number} scenarios_per_test_case
 * @property {boolean} [only_changed]
 * @property {string[]} [techniques]
 */

/**
 * @typedef {object} JobError
 * @property {string} type  one of the server's error types (ClientConstants.error_hints)
 * @property {string} message
 */

/**
 * A job as the page knows it: the latest snapshot from the event stream or GET …/status/{task_id}.
 * @typedef {object} Job
 * @property {string} task_id
 * @property {string} story_id
 * @property {number|null} [project_id]
 * @property {string} status
 * @property {number} [progress]
 * @property {string} [message]
 * @property {string|null} [warning]  set while it cannot progress (no worker runs)
 * @property {Partial<GenerateOptions>} [options]
 * @property {Draft|null} [result]
 * @property {JobError|null} [error]
 * @property {string|null} [created_at]
 * @property {string|null} [finished_at]
 * @property {string|null} [saved_at]
 * @property {Review|null} [review]  where its draft stands in review (null: never submitted)
 */

/**
 * A scenario of a test case, as Given/When/Then steps.
 * @typedef {object} Scenario
 * @property {string} title
 * @property {string[]} given
 * @property {string[]} when
 * @property {string[]} then
 * @property {string} [technique]  the test-design technique it applies
 * @property {{ header: string[], rows: string[][] }} [examples]  set: a Scenario Outline's table
 */

/**
 * A test case: of a draft (no id yet) or saved (with its id).
 * @typedef {object} TestCase
 * @property {number} [id]
 * @property {string} title
 * @property {string} [description]
 * @property {string} priority
 * @property {string} test_type
 * @property {Scenario[]} scenarios
 * @property {{ name: string, values: string[] }[]} [parameters]  the inputs it varies (pairwise combines them)
 * @property {number[]} [covered_criteria]
 * @property {string[]} [stale_criteria]  saved ones: covered criteria changed since it was saved
 * @property {number|null} [approved_by]  saved ones: the user who approved the draft it came from
 * @property {string|null} [approved_at]
 */

/**
 * A repeat the server found in a draft: a scenario like another one of the draft or a saved test.
 * @typedef {object} Repeat
 * @property {number} test_case
 * @property {number} scenario
 * @property {string} message
 * @property {number} [saved_test_case_id]
 */

/**
 * How well a draft covers its story: each criterion's test cases, those uncovered and why, repeats.
 * @typedef {object} QualityReport
 * @property {{ index: number, criterion: string, test_cases: number[], scenarios: number, techniques?: Object<string, number> }[]} criteria
 * @property {{ index: number, criterion: string, reason: string }[]} uncovered
 * @property {{ index: number, criterion: string, questions: string[] }[]} [unclear]  found by the check before generating
 * @property {{ replaced: number, within_draft: number, against_saved: number }} duplicates
 * @property {Object<string, number>} scenarios_per_type
 * @property {Object<string, number>} [scenarios_per_technique]
 * @property {number} llm_calls
 * @property {number} tokens
 */

/**
 * A completed generation job's result: its draft and how it was made.
 * @typedef {object} Draft
 * @property {TestCase[]} test_cases
 * @property {Object<string, any>} [stats]
 * @property {string} [provider]
 * @property {string} [model]
 * @property {string} [language]
 * @property {boolean} [language_mismatch]
 * @property {QualityReport} [quality]
 * @property {Repeat[]} [duplicates]
 */

/**
 * @typedef {object} Story
 * @property {string} id
 * @property {number|null} project_id
 * @property {string} title
 * @property {string} description
 * @property {string[]} acceptance_criteria
 * @property {string} priority
 * @property {string|null} [jira_url]
 * @property {string|null} [language]
 * @property {string|null} [detected_language]
 * @property {number} [revision]
 */

/**
 * @typedef {object} Attachment  a file of a story (api/schemas/attachments.py AttachmentOut)
 * @property {number} id
 * @property {string} story_id
 * @property {string} file_name
 * @property {string} media_type
 * @property {"image"|"pdf"|"text"} kind
 * @property {number} size
 * @property {string} sha256
 * @property {number|null} [width]
 * @property {number|null} [height]
 * @property {number|null} [pages]
 * @property {number|null} [text_chars]
 * @property {string} created_at
 */

/**
 * @typedef {object} Project
 * @property {number} id
 * @property {string} name
 * @property {string|null} llm_provider
 * @property {string|null} llm_model
 * @property {string|null} [language]
 * @property {string} [instructions]
 * @property {string[]|null} [default_techniques]  the techniques of a job that names none
 * @property {number|null} [token_budget_daily]
 * @property {boolean} [review_required]  a draft is saved only once approved
 * @property {boolean} [allow_self_approval]  a reviewer may approve their own draft
 */

/**
 * An LLM provider a project may choose.
 * @typedef {object} Provider
 * @property {string} name
 * @property {string} default_model
 * @property {boolean} default
 */

/**
 * The list's query: what the server is asked for (GET /user-stories?q=&project_id=&state=…).
 * @typedef {object} ListQuery
 * @property {string} q
 * @property {string} project
 * @property {string} state
 * @property {number} page
 */

/**
 * What the URL asks for (?story=&q=&project=&state=&page=).
 * @typedef {ListQuery & { story: string }} Route
 */

/**
 * Where a story's badge and Generate button are: its row in the list, or its open story view.
 * @typedef {object} StatusParts
 * @property {HTMLElement} status
 * @property {HTMLButtonElement} generate
 */

/**
 * A project role's name, by role (window.TESTGEN_CONSTANTS.roles): the page branches on these names.
 * @typedef {object} ProjectRoles
 * @property {string} viewer
 * @property {string} editor
 * @property {string} reviewer
 * @property {string} admin
 */

/**
 * The review gate's states of a draft, by name (window.TESTGEN_CONSTANTS.review_states).
 * @typedef {object} ReviewStates
 * @property {string} in_review
 * @property {string} approved
 * @property {string} changes_requested
 */

/**
 * What a review step does, by name (window.TESTGEN_CONSTANTS.review_actions).
 * @typedef {object} ReviewActions
 * @property {string} submit
 * @property {string} approve
 * @property {string} request_changes
 */

/**
 * How one signs in here (GET /auth/config).
 * @typedef {object} AuthConfig
 * @property {boolean} sign_in_required
 * @property {boolean} password_sign_in
 * @property {boolean} oidc
 */

/**
 * A user of the server (GET /users, GET /auth/me).
 * @typedef {object} User
 * @property {number} id
 * @property {string} email
 * @property {string} name
 * @property {boolean} is_admin
 * @property {boolean} active
 * @property {string} created_at
 */

/**
 * @typedef {object} Membership
 * @property {number} project_id
 * @property {string} role
 */

/**
 * Who is asking (GET /auth/me): a user, a service key (API_KEYS) or the local admin.
 * @typedef {object} Me
 * @property {string} kind  user, service or local
 * @property {User|null} user
 * @property {boolean} is_admin
 * @property {Membership[]} projects
 * @property {string|null} [csrf_token]  signed in by cookie: sent back in X-CSRF-Token
 */

/**
 * A personal API token as listed (GET /auth/tokens); `token` only in the answer that created it.
 * @typedef {object} ApiToken
 * @property {number} id
 * @property {string} name
 * @property {string} prefix
 * @property {string} created_at
 * @property {string|null} expires_at
 * @property {string|null} last_used_at
 * @property {string} [token]
 */

/**
 * A member of a project (GET /projects/{id}/members).
 * @typedef {object} Member
 * @property {number} user_id
 * @property {string} email
 * @property {string} name
 * @property {string} role
 * @property {boolean} active
 */

/**
 * One step of a draft's review: who did what, with their comments.
 * @typedef {object} ReviewStep
 * @property {string} action
 * @property {string} actor  their name, as it was then
 * @property {number|null} actor_id  null: an API key or the local admin
 * @property {string} comment  empty: none
 * @property {Object<string, string>} test_case_comments  "<index>" -> comment
 * @property {string} at
 */

/**
 * Where a draft stands in review (a job's `review`; null: never submitted).
 * @typedef {object} Review
 * @property {string} state
 * @property {number|null} author_id  who queued the draft (null: an API key or the local admin)
 * @property {ReviewStep[]} steps  oldest first
 */

/**
 * A draft in review that the caller may approve (GET /reviews/inbox).
 * @typedef {object} InboxItem
 * @property {string} task_id
 * @property {string} story_id
 * @property {string} story_title
 * @property {number} project_id
 * @property {string} project_name
 * @property {number|null} author_id
 * @property {string|null} finished_at
 * @property {string|null} submitted_at
 * @property {string|null} submitted_by
 */

/**
 * A change of a story, for its history (GET /user-stories/{id}/history).
 * @typedef {object} HistoryRow
 * @property {string} at
 * @property {string} actor
 * @property {string} action
 * @property {string[]} fields  the names of the fields the request sent
 */

/**
 * A project's connection to a tool (GET /projects/{id}/connections): no secret, only their names.
 * @typedef {object} Connection
 * @property {number} id
 * @property {number} project_id
 * @property {string} kind
 * @property {string} name
 * @property {Object<string, string | number | null>} settings  the kind's settings (and `kind`)
 * @property {string[]} secrets_set
 * @property {string} created_at
 * @property {string} updated_at
 */

/**
 * What trying a connection found (POST …/connections/{id}/test).
 * @typedef {object} ConnectionTest
 * @property {boolean} ok
 * @property {string} detail  what the tool answered, or why it did not work
 * @property {string|null} [error]  not ok: what kind of failure
 */

/**
 * A job as its queue answer names it (POST …/push and the other routes that queue one).
 * @typedef {object} QueuedJob
 * @property {string} task_id
 * @property {string|null} story_id
 * @property {number|null} [project_id]
 * @property {string} status
 * @property {string} status_url
 * @property {string} events_url
 * @property {string|null} [warning]
 */

/**
 * A push job's snapshot (its event stream, GET …/status/{task_id}).
 * @typedef {object} PushJob
 * @property {string} task_id
 * @property {string} status
 * @property {number} [progress]
 * @property {string} [message]  "Pushed N/M test cases"
 * @property {string|null} [warning]
 * @property {PushResult|null} [result]
 * @property {JobError|null} [error]
 */

/**
 * One test case of a push and where it lives in the tool.
 * @typedef {object} PushedCase
 * @property {number} test_case_id
 * @property {string} story_id
 * @property {string|null} [remote_key]
 * @property {string|null} [url]
 * @property {string} message  failed, conflict, removed: why
 */

/**
 * @typedef {object} PushCounts
 * @property {number} created
 * @property {number} updated
 * @property {number} unchanged
 * @property {number} conflicts
 * @property {number} removed
 * @property {number} failed
 * @property {number} skipped_unapproved
 * @property {number} linked
 * @property {number} links_failed
 */

/**
 * A push's outcome (each list holds at most the first 1,000; `counts` are exact).
 * @typedef {object} PushResult
 * @property {number} connection_id
 * @property {string} connection  its name
 * @property {string} kind
 * @property {PushedCase[]} created
 * @property {PushedCase[]} updated
 * @property {PushedCase[]} unchanged
 * @property {PushedCase[]} conflicts
 * @property {PushedCase[]} removed
 * @property {PushedCase[]} failed
 * @property {PushedCase[]} links_failed
 * @property {number} skipped_unapproved
 * @property {PushCounts} counts
 */

export {};
