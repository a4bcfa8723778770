"""Runs a scripted MCP session with the official Python SDK (`mcp` 2.x), as a second real
client for Pallas's tests.

Usage: python mcp_script.py SCRIPT_JSON

SCRIPT_JSON: {"url": "...", "mode": "auto" | "legacy",
              "steps": [{"call": TOOL, "args": {...}} | {"prompt": NAME, "args": {...}}
                        | {"list_tools": true}]}

Prints one JSON object: {"protocol_version": ..., "results": [...]} where a call gives
{"text", "is_error", "structured"}, a prompt {"messages": [{"role", "text"}]} and list_tools
{"tools": [names]}. A step that raises gives {"error": "..."} and the script goes on.
"""

import asyncio
import json
import sys

from mcp import Client


def text_of(blocks):
    return "\n".join(getattr(b, "text", "") for b in blocks if getattr(b, "type", "") == "text")


async def run(script):
    results = []
    async with Client(script["url"], mode=script.get("mode", "auto"), read_timeout_seconds=60) as client:
        for step in script["steps"]:
            try:
                if "call" in step:
                    r = await client.call_tool(step["call"], step.get("args", {}))
                    results.append(
                        {
                            "text": text_of(r.content),
                            "is_error": bool(r.is_error),
                            "structured": r.structured_content,
                        }
                    )
                elif "prompt" in step:
                    r = await client.get_prompt(step["prompt"], step.get("args") or None)
                    results.append(
                        {"messages": [{"role": m.role, "text": getattr(m.content, "text", "")} for m in r.messages]}
                    )
                elif step.get("list_tools"):
                    r = await client.list_tools()
                    results.append({"tools": [t.name for t in r.tools]})
            except Exception as e:  # reported to the test, which asserts on it
                results.append({"error": f"{type(e).__name__}: {e}"})
        version = client.protocol_version
    print(json.dumps({"protocol_version": version, "results": results}))


if __name__ == "__main__":
    asyncio.run(run(json.loads(sys.argv[1])))
