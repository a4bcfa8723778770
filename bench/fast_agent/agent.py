"""The bench agent of examples/bench/agents.yaml, written for fast-agent (the peer Pallas replaces).

Started by bench/compare.sh as
    python agent.py --transport http --host 127.0.0.1 --port P --instance-scope request --quiet
with fastagent.config.yaml beside it (written by compare.sh: the same notes server and model).
"""

import asyncio

from fast_agent import FastAgent

fast = FastAgent("pallas-bench-peer")


@fast.agent(
    name="bench",
    instruction="You are a benchmark agent. Use the notes tools when asked to.",
    servers=["notes"],
    model="bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0",
)
async def main() -> None:
    async with fast.run() as agent:
        await agent.interactive()


if __name__ == "__main__":
    asyncio.run(main())
