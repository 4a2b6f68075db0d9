"""No tables of its own: every MCP call is an audit event (``mcp_bridge.governance``), which
is also what the per-tenant rate limits count."""
