"""The MCP server: the SDK's ``MCPServer`` speaking the protocol, every tool call handed to
the governance pipeline.

The SDK's own tools validate their arguments against a Python signature before the tool
runs, which would drop unknown arguments silently and ahead of the rate limit. Here the
server lists the pipeline's tools and passes each call's raw arguments to it, so the
pipeline sees the call exactly as sent and keeps its order (``mcp_bridge.governance``).

The ORM is synchronous: calls run on one worker thread (``sync_to_async`` thread-sensitive),
one at a time, on one database connection.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp.server.mcpserver import MCPServer

from mcp_bridge.governance import Pipeline

SERVER_NAME = "ecomops"
SERVER_VERSION = "0.1.0"
INSTRUCTIONS = (
    "EcomOps tools for one tenant and one user: reconciliation of Stripe and Shopify payouts and "
    "NetSuite. Amounts are integers in minor units. Each result carries a correlation_id; unknown "
    "parameters are dropped and listed in ignored_params; row limits are applied and said in notices."
)


class GovernedServer(MCPServer):
    """An ``MCPServer`` whose tools are the pipeline's."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(SERVER_NAME, version=SERVER_VERSION, instructions=INSTRUCTIONS)
        self.pipeline = pipeline

    async def list_tools(self) -> list[types.Tool]:
        tools = await sync_to_async(self.pipeline.visible_tools, thread_sensitive=True)()
        return [
            types.Tool(
                name=tool.name,
                description=tool.description,
                input_schema=tool.input_schema(),
                annotations=types.ToolAnnotations(read_only_hint=tool.read_only, open_world_hint=False),
            )
            for tool in tools
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> types.CallToolResult:
        result = await sync_to_async(self.pipeline.call, thread_sensitive=True)(name, arguments)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.text)],
            structured_content=result.payload,
            is_error=result.is_error,
        )
