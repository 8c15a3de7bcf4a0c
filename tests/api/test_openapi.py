"""The OpenAPI document: valid OpenAPI 3.1, public, and in step with the parameter limits the views enforce."""
from __future__ import annotations

from openapi_spec_validator import validate

from aichat.api import params
from tests.api.openapi_check import served_document


def test_the_served_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")  # no credentials: it is public
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_monitoring_path_is_documented_with_its_security(client, app):
    doc = served_document(client)
    served = {rule.rule for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/api/v1/ai-monitoring/", "/api/v1/ai-proxy/"))}
    assert served <= set(doc["paths"])
    for path in served - {"/api/v1/ai-proxy/chat"}:
        schemes = {name for requirement in doc["paths"][path]["get"]["security"] for name in requirement}
        assert {"bearerAuth", "cookieSession"} <= schemes, path
        assert doc["paths"][path]["get"]["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "cookieSession", "clientKey", "metricsToken"}


def test_parameter_ranges_match_the_views(client):
    doc = served_document(client)
    summary = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/ai-monitoring/summary"]["get"]["parameters"]}
    assert (summary["days"]["minimum"], summary["days"]["maximum"]) == params.DAYS_RANGE
    errors = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/ai-monitoring/recent-errors"]["get"]["parameters"]}
    assert (errors["limit"]["minimum"], errors["limit"]["maximum"]) == params.LIMIT_RANGE
    assert errors["provider"]["maxLength"] == params.TEXT_LENGTHS["provider"]
    assert errors["upstream"]["maxLength"] == params.TEXT_LENGTHS["upstream"]


def test_the_chat_bodies_carry_this_servers_limits(make_app):
    client = make_app(AICHAT_MAX_MESSAGES=5, AICHAT_MAX_TOKENS_LIMIT=300).test_client()
    doc = served_document(client)
    for path in ("/api/v1/ai-proxy/chat", "/v1/chat/completions"):
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["messages"]["maxItems"] == 5
        assert body["properties"]["max_tokens"]["anyOf"][0]["maximum"] == 300


def test_the_address_refusals_are_documented(client):
    doc = served_document(client)
    for path in ("/api/v1/ai-monitoring/summary", "/api/v1/ai-monitoring/export/logs.csv", "/metrics"):
        refused = doc["paths"][path]["get"]["responses"]["403"]
        assert "ALLOW_IPS" in refused["description"] and "address_not_allowed" in refused["description"]
    assert "401" in doc["paths"]["/v1/models"]["get"]["responses"]
