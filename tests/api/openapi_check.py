"""Check real responses against the schema the served OpenAPI document declares for them."""
from __future__ import annotations

from jsonschema import Draft202012Validator


def served_document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def assert_matches_openapi(client, response, method: str = "get") -> None:
    """Validate `response` (a test client response) against its path, method and status in the served document."""
    doc = served_document(client)
    path = response.request.path
    operation = doc["paths"][path][method]
    declared = operation["responses"][str(response.status_code)]
    media = response.mimetype
    assert media in declared["content"], f"{path} {response.status_code}: {media} is not declared"
    schema = declared["content"][media]["schema"]
    # The document's own components resolve the schema's $refs: nothing is copied into the tests.
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], **schema}
    body = response.get_json() if media == "application/json" else response.get_data(as_text=True)
    Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
