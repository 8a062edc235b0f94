"""Ask a fusion for a structured answer: every member answers in the schema, the answers fuse field by field.

The members here are models of fusion-graph's own loopback stub, scripted to answer in the schema as
an OpenAI-compatible server honouring ``response_format`` does; point ``base_url`` at your server (or
use any provider: each is asked by its own structured-output method).
"""

import asyncio
import json

from pydantic import BaseModel

from fusion_graph import Fusion, FusionChatModel, FusionConfig, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer


class City(BaseModel):
    name: str
    population: int
    note: str


def reply(name: str, population: float, note: str) -> str:
    return json.dumps({"name": name, "population": population, "note": note})


async def main() -> None:
    server = OpenAIStubServer(
        models={
            "llama-3.1-8b": ModelScript(reply=reply("Paris", 2100000, "The capital since the 10th century.")),
            "qwen2.5-7b": ModelScript(reply=reply("paris", 2.1e6, "Paris, on the Seine, is the capital.")),
            "mistral-7b": ModelScript(reply=reply("Lyon", 520000, "Lyon is a large city in France.")),
            "judge-70b": ModelScript(judge=True),
        }
    )
    async with server:
        names = ("llama-3.1-8b", "qwen2.5-7b", "mistral-7b")
        config = FusionConfig(
            pool=[Member(f"openai-compatible:{name}", base_url=server.base_url) for name in names],
            judge=Judge("openai-compatible:judge-70b", base_url=server.base_url),
        )
        result = await Fusion(config).run("The capital of France, and its population?", response_format=City)
        city = City.model_validate_json(result.answer)  # checked against the schema before it came back
        print(f"{city.name} {city.population} ({result.decided_by})")
        print("answers:", result.answers)
        # the same path, as a LangChain chat model
        print(await FusionChatModel(config).with_structured_output(City).ainvoke("The capital of France?"))


if __name__ == "__main__":
    asyncio.run(main())
