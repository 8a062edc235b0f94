"""A local member answers a response_format through llama.cpp's grammar (a forced call of the schema)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from fusion_graph import Fusion, FusionConfig, Member
from fusion_graph.testing import ScriptedChatModel

pytestmark = pytest.mark.local


class Answer(BaseModel):
    city: str
    is_capital: bool


async def test_a_local_member_answers_valid_json_of_the_schema(smol) -> None:
    member = Member(smol, name="smol")
    config = FusionConfig(pool=[member], judge=ScriptedChatModel())  # one candidate: no judge call
    result = await Fusion(config).run("Is Paris the capital of France?", response_format=Answer)
    Answer.model_validate_json(result.answer)
    assert result.decided_by == "fields:unanimous"
    assert json.loads(result.candidates[0].text).keys() == {"city", "is_capital"}
