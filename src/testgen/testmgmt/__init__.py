"""Test-management tools (TestRail, Xray, Zephyr Scale, Azure DevOps) and Jira links: the connectors
of a push."""
