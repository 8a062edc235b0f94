"""Argument checking has one home: the input schema decides, the pydantic model only binds."""

from pydantic import BaseModel, field_validator

from tool_registry import ToolRegistry


class Box(BaseModel):
    w: float

    @field_validator("w")
    @classmethod
    def _positive(cls, w: float) -> float:
        if w <= 0:
            raise ValueError("must be positive")
        return w


async def test_schema_check_and_binding_report_in_one_format():
    registry = ToolRegistry(timeout=5)

    @registry.tool
    def area(box: Box) -> float:
        """Area of a square box."""
        return box.w * box.w

    assert (await registry.call("area", {"box": {"w": 3}})).structured == {"result": 9.0}  # bound to a Box
    by_schema = await registry.call("area", {"box": {"w": "3"}})
    by_model = await registry.call("area", {"box": {"w": -1}})  # a check the schema does not carry
    for out in (by_schema, by_model):
        assert out.is_error and out.error_kind == "invalid_arguments"
        assert out.text.startswith("arguments do not match the input schema:\n- at box/w: "), out.text
    assert "must be positive" in by_model.text
