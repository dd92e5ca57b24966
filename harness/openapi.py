"""OpenAPI 3.1 document of the public gateway surface, generated from the model.

`harness openapi` writes docs/openapi.yaml; `harness validate` (check
"openapi") regenerates it, fails when the committed file is out of sync with
kong.yml, and validates it with openapi-spec-validator.

Mapping (Kong semantics, kong-behaviour.md §1, §2, §3):
- a plain route path `/api/users` is a *prefix*: documented as `/api/users`
  and `/api/users/{path}`; a regex path with named groups becomes a template
  (`(?<invoice>[0-9]+)` -> `{invoice}` with that pattern);
- no `methods` on a route = any method; `protocols: [https]` narrows the
  servers of that path (plain HTTP gets the route's redirect status);
- the jwt plugin on a route = bearer security + 401; tenant-context = 403/404/
  503; the tier rate limits = RateLimit-* headers on success and 429;
  request-size-limiting = 413.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from harness.model import Gateway, RouteView, load_gateway
from harness.validate import check

__all__ = ["OPENAPI_FILE", "build_openapi", "render_openapi"]

OPENAPI_FILE = Path("docs/openapi.yaml")
ANY_METHODS = ("get", "post", "put", "patch", "delete")
_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>((?:[^()\\]|\\.)+)\)")
_REGEX_META = re.compile(r"[\\^$.|?*+()\[\]{}]")
_ERR = "#/components/schemas/Error"


def _servers(gw: Gateway, schemes: tuple[str, ...]) -> list[dict[str, Any]]:
    subs = sorted(t.subdomain for t in gw.tenants.tenants)
    out: list[dict[str, Any]] = []
    for scheme in schemes:
        out.append({"url": f"{scheme}://{{tenant}}.{gw.tenants.base_domain}",
                    "description": f"Tenant subdomain ({scheme})",
                    "variables": {"tenant": {"default": subs[0] if subs else "acme",
                                             "enum": subs or ["acme"]}}})
        for t in sorted(gw.tenants.tenants, key=lambda t: t.id):
            for d in t.custom_domains:
                out.append({"url": f"{scheme}://{d}",
                            "description": f"Custom domain of tenant {t.id} ({scheme})"})
    return out


def _template(path: str) -> tuple[list[str], dict[str, str], bool]:
    """Kong route path -> (OpenAPI paths, {param: regex}, is_prefix)."""
    if not path.startswith("~"):
        base = path.rstrip("/") or "/"
        sub = f"{base}/{{path}}" if base != "/" else "/{path}"
        return [base, sub], {}, True
    regex = path[1:].lstrip("^")
    exact = regex.endswith("$") and not regex.endswith("\\$")
    regex = regex[:-1] if exact else regex
    params: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        params[m.group(1)] = m.group(2)
        return f"{{{m.group(1)}}}"

    templ = _NAMED_GROUP.sub(repl, regex)
    literal = re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", "", templ)
    if _REGEX_META.search(literal.replace("\\/", "/").replace("\\-", "-")):
        # Not expressible as a template: document the regex itself.
        return [templ], params, not exact
    return [templ], params, not exact


def _rate_headers(gw: Gateway) -> dict[str, Any]:
    windows = sorted({w for t in gw.tiers.tiers for w in gw.tier_limits(t)},
                     key=["second", "minute", "hour", "day", "month", "year"].index)
    h: dict[str, Any] = {n: {"$ref": f"#/components/headers/{n}"}
                         for n in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")}
    for w in windows:
        for kind in ("Limit", "Remaining"):
            name = f"X-RateLimit-{kind}-{w.capitalize()}"
            h[name] = {"$ref": f"#/components/headers/{name}"}
    return h


def _operation(gw: Gateway, view: RouteView, method: str, params: list[dict[str, Any]],
               suffix: str) -> dict[str, Any]:
    plugins = {p.name: p for p in gw.plugins_for(view)}
    proxied = "ProxiedLimited" if "tenant-context" in plugins else "Proxied"
    responses: dict[str, Any] = {
        "200": {"$ref": f"#/components/responses/{proxied}"},
        "404": {"$ref": "#/components/responses/NotFound"},
        "502": {"$ref": "#/components/responses/BadGateway"},
        "503": {"$ref": "#/components/responses/ServiceUnavailable"},
        "504": {"$ref": "#/components/responses/GatewayTimeout"},
    }
    op: dict[str, Any] = {
        "operationId": f"{view.name}-{method}{suffix}",
        "tags": [view.service.name],
        "summary": f"{method.upper()} via route {view.name} to {view.service.name}",
        "x-kong-route": {"name": view.name, "service": view.service.name,
                         "strip_path": view.route.strip_path,
                         "service_path": view.service.path or "/",
                         "protocols": list(view.route.protocols)},
    }
    if "jwt" in plugins:
        op["security"] = [{"bearerAuth": []}]
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    else:
        op["security"] = []
    if "tenant-context" in plugins:
        responses["403"] = {"$ref": "#/components/responses/Forbidden"}
        responses["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    size = plugins.get("request-size-limiting")
    if size is not None and method in ("post", "put", "patch"):
        cfg = size.plugin.config
        responses["413"] = {"$ref": "#/components/responses/PayloadTooLarge"}
        op["requestBody"] = {
            "required": False,
            "description": f"At most {cfg.allowed_payload_size} "  # type: ignore[union-attr]
                           f"{cfg.size_unit} (request-size-limiting).",  # type: ignore[union-attr]
            "content": {"application/json": {"schema": {"type": "object"}},
                        "application/octet-stream": {"schema": {"type": "string",
                                                                "format": "binary"}}}}
    if "http" not in view.route.protocols:
        code = str(view.route.https_redirect_status_code)
        responses[code] = {"$ref": "#/components/responses/UpgradeRequired"} if code == "426" \
            else {"description": "Plain HTTP is redirected to HTTPS.",
                  "headers": {"Location": {"schema": {"type": "string"}}}}
    if params:
        op["parameters"] = params
    op["responses"] = dict(sorted(responses.items()))
    return op


def _paths(gw: Gateway) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for view in gw.routes:
        methods = [m.lower() for m in view.route.methods] or list(ANY_METHODS)
        for kong_path in view.route.paths:
            templates, regexes, prefix = _template(kong_path)
            for i, templ in enumerate(templates):
                names = re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", templ)
                params = []
                for n in names:
                    schema: dict[str, Any] = {"type": "string"}
                    desc = "Rest of the path (prefix route: any suffix, may contain '/')."
                    if n in regexes:
                        schema["pattern"] = f"^{regexes[n]}$"
                        desc = f"Captured by the route regex {kong_path}."
                    params.append({"name": n, "in": "path", "required": True,
                                   "description": desc, "schema": schema})
                item = paths.setdefault(templ, {})
                if "https" in view.route.protocols and "http" not in view.route.protocols:
                    item["servers"] = _servers(gw, ("https",))
                suffix = "-subpath" if prefix and i == 1 else ""
                for m in methods:
                    item[m] = _operation(gw, view, m, params, suffix)
    return dict(sorted(paths.items()))


def _components(gw: Gateway) -> dict[str, Any]:
    def resp(desc: str, example: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        r: dict[str, Any] = {"description": desc, "content": {"application/json": {
            "schema": {"$ref": _ERR}, "example": {"message": example}}}}
        if extra:
            r["headers"] = extra
        return r

    limits = "; ".join(f"{t}: " + ", ".join(f"{n} per {w}" for w, n in gw.tier_limits(t).items())
                       for t in gw.tiers.tiers)
    headers: dict[str, Any] = {
        "X-Request-ID": {"description": "Correlation id (correlation-id plugin, echoed).",
                         "schema": {"type": "string"}},
        "RateLimit-Limit": {"description": "Limit of the window closest to exhaustion.",
                            "schema": {"type": "integer"}},
        "RateLimit-Remaining": {"description": "Requests left in that window.",
                                "schema": {"type": "integer"}},
        "RateLimit-Reset": {"description": "Seconds until that window resets.",
                            "schema": {"type": "integer"}},
        "Retry-After": {"description": "Seconds to wait (same as RateLimit-Reset).",
                        "schema": {"type": "integer"}},
    }
    for name, ref in _rate_headers(gw).items():
        if name.startswith("X-RateLimit-"):
            kind, window = name.split("-")[2], name.split("-")[3].lower()
            headers[name] = {"description": f"{kind} of the per-{window} tier limit "
                                            f"({limits}).", "schema": {"type": "integer"}}
    return {
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "RS256 token of the Auth Service (POST /auth/token); header kid "
                           "names the signing key; claims iss, aud, sub, tenant_id (must be the "
                           "tenant of the Host), exp (at most 3600 s ahead), nbf."}},
        "schemas": {
            "Error": {"type": "object", "required": ["message"], "properties": {
                "message": {"type": "string"},
                "request_id": {"type": "string", "description": "Kong 3.5+ error bodies"}}},
            "ClaimError": {"type": "object", "description": "jwt plugin claim failures",
                           "properties": {"exp": {"type": "string"}, "nbf": {"type": "string"}}},
        },
        "headers": headers,
        "responses": {
            "Proxied": {"description": "The backend's response, proxied as is.",
                        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
                        "content": {"application/json": {"schema": {"type": "object"}}}},
            "ProxiedLimited": {
                "description": "The backend's response, proxied as is, with the tenant's tier "
                               "rate-limit state.",
                "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
                            **_rate_headers(gw)},
                "content": {"application/json": {"schema": {"type": "object"}}}},
            "Unauthorized": {"description": "Missing or invalid token (jwt plugin).",
                             "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                             "content": {"application/json": {"schema": {"oneOf": [
                                 {"$ref": _ERR}, {"$ref": "#/components/schemas/ClaimError"}]},
                                 "example": {"message": "Unauthorized"}}}},
            "Forbidden": resp("Token tenant differs from the Host's tenant, or the tenant is "
                              "suspended (tenant-context).", "Token tenant does not match host"),
            "NotFound": resp("No route matched, or the Host is no tenant's.",
                             "no Route matched with those values"),
            "PayloadTooLarge": resp("Body over the route's size limit.",
                                    "Request size limit exceeded"),
            "TooManyRequests": resp(f"Tier rate limit exceeded ({limits}).",
                                    "API rate limit exceeded",
                                    {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
                                     **_rate_headers(gw)}),
            "UpgradeRequired": resp("HTTPS-only route requested over HTTP.",
                                    "Please use HTTPS protocol"),
            "BadGateway": resp("Upstream refused or reset the connection.",
                               "An invalid response was received from the upstream server"),
            "ServiceUnavailable": resp("No healthy upstream target, or the tenant directory is "
                                       "unavailable.", "The upstream server is currently "
                                       "unavailable"),
            "GatewayTimeout": resp("Upstream timed out.", "The upstream server is timing out"),
        },
    }


def build_openapi(gw: Gateway) -> dict[str, Any]:
    from harness import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Multi-tenant API gateway",
            "version": __version__,
            "description": "Public surface of the Kong gateway, generated by `harness openapi` "
                           "from kong/declarative-config/kong.yml, kong/tiers.yaml and "
                           "kong/tenants.yaml. Do not edit by hand.",
        },
        "servers": _servers(gw, ("https", "http")),
        "tags": [{"name": s.name, "description": f"Backend {s.name} (upstream {s.host})"}
                 for s in gw.kong.services],
        "paths": _paths(gw),
        "components": _components(gw),
    }


def render_openapi(gw: Gateway) -> str:
    head = "# Generated by `harness openapi` from the gateway model. Do not edit.\n"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: same text, faster
    return head + yaml.dump(build_openapi(gw), Dumper=dumper, sort_keys=False, width=100,
                            allow_unicode=True)


@check("openapi")
def _check(root: Path) -> list[str]:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    path = root / OPENAPI_FILE
    if not path.is_file():
        return [f"{OPENAPI_FILE}: expected the generated document, got no such file "
                "(run `harness openapi`)"]
    text = path.read_text()
    problems = []
    try:
        validate(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except OpenAPIValidationError as exc:
        problems.append(f"{OPENAPI_FILE}: expected a valid OpenAPI 3.1 document, got: "
                        f"{exc.message}")
    except yaml.YAMLError as exc:
        return [f"{OPENAPI_FILE}: expected YAML, got {exc}"]
    if text != render_openapi(load_gateway(root)):
        problems.append(f"{OPENAPI_FILE}: expected the document generated from kong.yml, "
                        "got a stale or edited copy (run `harness openapi`)")
    return problems
