import yaml
from deploy_support import REPO, edit
from openapi_spec_validator import validate

from harness.cli import main
from harness.model import load_gateway
from harness.openapi import OPENAPI_FILE, build_openapi, render_openapi
from harness.validate import run_checks


def _doc():
    return build_openapi(load_gateway(REPO))


def test_the_committed_document_is_the_one_generated_from_kong_yml():
    assert (REPO / OPENAPI_FILE).read_text() == render_openapi(load_gateway(REPO))


def test_the_generated_document_is_valid_openapi_3_1():
    doc = yaml.load(render_openapi(load_gateway(REPO)), Loader=yaml.CSafeLoader)
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_route_path_and_method_of_kong_yml_is_documented():
    doc, gw = _doc(), load_gateway(REPO)
    ops = {op["x-kong-route"]["name"] for item in doc["paths"].values()
           for key, op in item.items() if key != "servers"}
    assert ops == {v.name for v in gw.routes}
    assert set(doc["paths"]["/api/notifications"]) == {"get", "post"}
    assert set(doc["paths"]["/api/users/{path}"]) == {"get", "post", "put", "patch", "delete"}


def test_a_regex_route_becomes_a_template_with_the_captured_pattern():
    item = _doc()["paths"]["/api/billing/invoices/{invoice}"]
    (param,) = item["get"]["parameters"]
    assert param["schema"]["pattern"] == "^[0-9]+$"
    assert set(item) == {"get", "servers"}


def test_https_only_routes_list_only_https_servers_and_the_redirect_status():
    doc = _doc()
    billing = doc["paths"]["/api/billing"]
    assert {s["url"].split(":")[0] for s in billing["servers"]} == {"https"}
    assert "426" in billing["get"]["responses"]
    assert "308" in doc["paths"]["/api/billing/invoices/{invoice}"]["get"]["responses"]
    assert "servers" not in doc["paths"]["/api/users"]


def test_jwt_routes_require_bearer_tokens_and_public_routes_do_not():
    doc = _doc()
    users = doc["paths"]["/api/users"]["get"]
    assert users["security"] == [{"bearerAuth": []}]
    assert "401" in users["responses"]
    token = doc["paths"]["/auth/token"]["post"]
    assert token["security"] == [] and "401" not in token["responses"]


def test_rate_limit_headers_and_429_come_from_the_tier_catalogue():
    doc, gw = _doc(), load_gateway(REPO)
    assert doc["paths"]["/api/users"]["get"]["responses"]["200"] == {
        "$ref": "#/components/responses/ProxiedLimited"}
    ok = doc["components"]["responses"]["ProxiedLimited"]["headers"]
    windows = {w for t in gw.tiers.tiers for w in gw.tier_limits(t)}
    for w in windows:
        assert f"X-RateLimit-Remaining-{w.capitalize()}" in ok
    assert "RateLimit-Reset" in ok
    too_many = doc["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]
    assert f"{gw.tier_limits('basic')['minute']} per minute" in too_many["description"]


def test_the_files_route_documents_its_25_megabyte_body_limit():
    post = _doc()["paths"]["/api/files"]["post"]
    assert "413" in post["responses"]
    assert post["requestBody"]["description"].startswith("At most 25 megabytes")


def test_a_stale_document_fails_the_openapi_check_naming_the_file(repo_copy):
    edit(repo_copy / "kong/tiers.yaml", "      minute: 30\n", "      minute: 31\n")
    edit(repo_copy / "kong/declarative-config/kong.yml", "          minute: 30\n",
         "          minute: 31\n")
    (result,) = run_checks(repo_copy, only=["openapi"])
    assert result.problems == [
        "docs/openapi.yaml: expected the document generated from kong.yml, got a stale or "
        "edited copy (run `harness openapi`)"]


def test_harness_openapi_rewrites_the_document_and_check_mode_reports_sync(repo_copy, capsys):
    (repo_copy / OPENAPI_FILE).write_text("openapi: 3.1.0\n")
    assert main(["openapi", "--root", str(repo_copy), "--check"]) == 1
    assert main(["openapi", "--root", str(repo_copy)]) == 0
    assert main(["openapi", "--root", str(repo_copy), "--check"]) == 0
    assert (repo_copy / OPENAPI_FILE).read_text() == (REPO / OPENAPI_FILE).read_text()
