"""The MCP server: its tools, resources and prompt over a way to reach the REST API (`Connect`)."""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, ListResourcesResult, PaginatedRequestParams

from testgen.mcp_server.resources import LISTED_STORIES, list_story_resources, register_resources
from testgen.mcp_server.tools import Connect, register_tools

NAME = "testgen"
INSTRUCTIONS = (
    "testgen turns user stories into reviewed QA test cases. Find a story (search_stories, get_story), "
    "generate a draft (generate_test_cases, wait: true to follow it), review and edit it "
    "(edit_draft_test_case, regenerate_test_case, the review_draft prompt), save it (save_draft) and "
    "export the saved test cases (export_test_cases). Your role in each project applies as in the API: a "
    "viewer reads, an editor writes and generates, a reviewer saves."
)
# Tool arguments named as the REST bodies name them where Python cannot: the name a client sends, and
# the tool function's parameter.
WIRE_NAMES = {"with": "with_"}


class TestgenServer(MCPServer[Any]):
    """An MCPServer whose resource listing is the caller's stories (project by project, paged)."""

    __test__ = False  # not a pytest test class

    def __init__(self, connect: Connect, **options: Any) -> None:
        super().__init__(**options)
        self.connect = connect

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """An argument the tool does not take is refused, as a REST body's unknown field is."""
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            unknown = sorted(set(arguments) - set(tool.parameters.get("properties", {})))
            if unknown:
                raise ToolError(f"Unknown arguments of {name}: {', '.join(unknown[:10])[:500]}")
            arguments = {WIRE_NAMES.get(key, key): value for key, value in arguments.items()}
        return await super().call_tool(name, arguments, context)

    async def _handle_list_resources(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        cursor = params.cursor if params is not None else None
        offset = int(cursor) if cursor is not None and cursor.isdigit() else 0
        resources, after = await list_story_resources(self.connect, ctx.request, offset)
        more = after - offset == LISTED_STORIES
        return ListResourcesResult(resources=resources, next_cursor=str(after) if more else None)


def build_server(connect: Connect) -> TestgenServer:
    """The tools, resources and prompt, each reaching the API through `connect`."""
    server = TestgenServer(connect, name=NAME, instructions=INSTRUCTIONS, version="0.1.0")
    register_tools(server, connect)
    register_resources(server, connect)
    python_names = {python: wire for wire, python in WIRE_NAMES.items()}
    for tool in server._tool_manager.list_tools():
        tool.parameters["additionalProperties"] = False  # the schema says what call_tool refuses
        properties = tool.parameters.get("properties", {})
        tool.parameters["properties"] = {python_names.get(k, k): v for k, v in properties.items()}
        if "required" in tool.parameters:
            tool.parameters["required"] = [python_names.get(k, k) for k in tool.parameters["required"]]
    return server
