"""testgen for AI assistants: a Model Context Protocol server whose tools are calls of the REST API.

The same server runs two ways: mounted in every API process at `/mcp` (streamable HTTP, stateless), and
over stdio (`testgen mcp`) against a running API. Either way each tool is a REST call made with the
caller's own credentials, so roles, validation and error messages are the API's.
"""
