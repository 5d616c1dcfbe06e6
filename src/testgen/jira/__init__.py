"""Reading stories from Jira: the REST client (Cloud and Data Center), rich text to plain text, and the
mapping of an issue to a user story. No database, no Redis: the worker's import job uses it."""
