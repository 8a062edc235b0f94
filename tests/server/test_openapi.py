"""`GET /openapi.json` describes the API: the request, the response, the stream, every error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fusion_graph.server import create_app
from fusion_graph.server._openapi import ERROR_STATUSES
from fusion_graph.server._schema import ChatRequest

from .conftest import pool_config, serve


def document(**kwargs: Any) -> dict[str, Any]:
    app = create_app({"fusion/best-of": pool_config(), "fusion/debate": pool_config(mode="debate")}, **kwargs)
    with serve(app) as live:
        response = httpx.get(f"{live.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def test_the_request_body_is_the_model_that_validates_requests(doc):
    operation = doc["paths"]["/v1/chat/completions"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatRequest"}
    schema = doc["components"]["schemas"]["ChatRequest"]
    assert set(schema["properties"]) == set(ChatRequest.model_fields)
    assert schema["required"] == ["model", "messages"]
    assert {"mode", "rounds", "members", "thread_id", "response_format"} <= set(schema["properties"])
    assert schema["additionalProperties"] is True  # unknown fields are accepted and logged


def test_it_names_this_servers_models_and_members(doc):
    properties = doc["components"]["schemas"]["ChatRequest"]["properties"]
    assert properties["model"]["enum"] == ["fusion/best-of", "fusion/debate"]
    array = next(option for option in properties["members"]["anyOf"] if option.get("type") == "array")
    assert array["items"]["enum"] == ["alpha", "beta", "gamma"] and array["uniqueItems"] is True


def test_every_optional_field_takes_null(doc):
    schema = doc["components"]["schemas"]["ChatRequest"]
    for name, field in schema["properties"].items():
        if name in schema["required"]:
            continue
        options = field.get("anyOf", [field])
        assert {"type": "null"} in options, f"{name} does not take null"


def test_the_thread_id_rule_is_in_the_document(doc):
    thread = doc["components"]["schemas"]["ChatRequest"]["properties"]["thread_id"]
    assert thread["pattern"] == "^[A-Za-z0-9_.:@-]{1,200}$" and thread["maxLength"] == 200
    (parameter,) = doc["paths"]["/v1/fusions/{thread_id}"]["get"]["parameters"]
    assert parameter["schema"]["pattern"] == thread["pattern"]


def test_the_response_and_the_stream(doc):
    ok = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletion"}
    stream = ok["content"]["text/event-stream"]
    data = stream["itemSchema"]["properties"]["data"]["anyOf"]
    assert data[0] == {"const": "[DONE]"}
    assert data[1]["contentSchema"]["anyOf"][0] == {"$ref": "#/components/schemas/ChatCompletionChunk"}
    assert "x-fusion-thread-id" in ok["headers"]


def test_every_error_status_has_the_openai_error_body(doc):
    responses = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert set(responses) == {"200", "400", "404", "409", "413", "429", "500", "502", "503"}
    for status, response in responses.items():
        if status != "200":
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
            assert response["description"] == ERROR_STATUSES[int(status)]
    assert {"Retry-After", "retry-after-ms"} <= set(responses["429"]["headers"])
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["message", "type", "param", "code"]
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert "500" in operation["responses"], f"{method} {path}"
            assert "422" not in operation["responses"], f"{method} {path}"


def test_the_key_is_documented_only_when_the_server_asks_for_one(doc):
    assert "securitySchemes" not in doc["components"]
    assert "401" not in doc["paths"]["/v1/models"]["get"]["responses"]
    keyed = document(api_keys=["sk-test"])
    assert keyed["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert keyed["paths"]["/v1/chat/completions"]["post"]["security"] == [{"bearer": []}]
    assert "401" in keyed["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "security" not in keyed["paths"]["/health"]["get"]
