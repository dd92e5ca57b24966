"""schema.lua of tenant-context and harness.model's TenantContextConfig are
one definition: names, order, types, defaults, required-ness, constraints and
the cross-field check must agree, so neither can drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

import annotated_types as at
import pytest
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from harness.errors import ConfigError
from harness.lua.schema import SchemaField, load_plugin_schema
from harness.model.plugins import TenantContextConfig

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "kong/custom-plugins/tenant-context"

# Kong typedef -> the pydantic constraint that mirrors its validator.
TYPEDEF_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "url": {},  # Kong's URL check has no pydantic twin here; the loader keeps it a str
    "header_name": {"pattern": "^[a-zA-Z0-9_-]+$"},
}
KONG_TO_PY = {"integer": int, "string": str, "number": float, "boolean": bool}


@pytest.fixture(scope="module")
def schema():
    return load_plugin_schema(PLUGIN)


def _constraints_of(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Annotated[str, Field(...)] inside a list keeps a FieldInfo: use its metadata.
    metadata = [m for item in metadata
                for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
    for item in metadata:
        for name in ("gt", "ge", "le", "min_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                out[name] = value
    return out


def _lua_constraints(f: SchemaField) -> dict[str, Any]:
    out: dict[str, Any] = dict(TYPEDEF_CONSTRAINTS[f.typedef]) if f.typedef else {}
    if f.gt is not None:
        out["gt"] = f.gt
    if f.between is not None:
        out["ge"], out["le"] = f.between
    if f.len_min is not None:
        out["min_length"] = f.len_min
    return out


def _py_type(info: FieldInfo) -> tuple[Any, dict[str, Any] | None]:
    """(python type as Kong names it, element constraints for lists)."""
    ann = info.annotation
    if get_origin(ann) is list:
        (item,) = get_args(ann)
        item_args = get_args(item)
        base = item_args[0] if item_args else item
        return (list, base), _constraints_of(list(item_args[1:]))
    return ann, None


def test_schema_and_model_have_the_same_fields_in_the_same_order(schema):
    assert [f.name for f in schema.config] == list(TenantContextConfig.model_fields)


@pytest.mark.parametrize("name", list(TenantContextConfig.model_fields))
def test_schema_field_type_default_and_constraints_equal_the_model(schema, name):
    lua = schema.field(name)
    info = TenantContextConfig.model_fields[name]
    py_type, item_constraints = _py_type(info)
    if lua.type == "array":
        assert lua.elements is not None
        assert py_type == (list, KONG_TO_PY[lua.elements.type])
        assert item_constraints == _lua_constraints(lua.elements)
    else:
        assert py_type is KONG_TO_PY[lua.type]
    assert lua.required == info.is_required()
    model_default = None if info.default is PydanticUndefined else info.default
    assert lua.default == model_default
    assert _lua_constraints(lua) == _constraints_of(info.metadata)


def test_every_schema_field_is_documented(schema):
    undocumented = [f.name for f in schema.config if not f.description]
    assert undocumented == []


def test_schema_defaults_build_a_valid_model_with_the_required_fields(schema):
    config = dict(schema.defaults(), tenant_service_url="http://t:1", issuer="i", audience="a")
    assert TenantContextConfig.model_validate(config).public_routes == []


@pytest.mark.parametrize(("tenant_header", "tier_header", "rejected"), [
    ("X-Tenant-ID", "X-Tenant-Tier", False),
    ("X-Tenant-ID", "x-tenant-id", True),
    ("X-Plan", "X-Plan", True),
])
def test_lua_entity_check_and_model_agree_on_header_clashes(schema, tenant_header,
                                                            tier_header, rejected):
    config = dict(schema.defaults(), tenant_service_url="http://t:1", issuer="i", audience="a",
                  tenant_header=tenant_header, tier_header=tier_header)
    lua_errors = schema.entity_check_errors(config)
    assert (lua_errors == ["tenant_header and tier_header must differ"]) is rejected
    try:
        TenantContextConfig.model_validate(config)
        model_rejected = False
    except ValidationError:
        model_rejected = True
    assert model_rejected is rejected


def test_a_schema_that_does_not_evaluate_is_a_config_error_naming_the_file(tmp_path):
    (tmp_path / "schema.lua").write_text("return { name = ", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "schema.lua"))):
        load_plugin_schema(tmp_path)


def test_a_schema_without_config_record_is_a_config_error(tmp_path):
    (tmp_path / "schema.lua").write_text('return { name = "x", fields = {} }', encoding="utf-8")
    with pytest.raises(ConfigError, match="fields.config: expected a record field named config"):
        load_plugin_schema(tmp_path)


def test_annotated_types_import_matches_pydantic_metadata():
    # Guards _constraints_of: pydantic must keep exposing bounds as annotated_types.
    meta = TenantContextConfig.model_fields["cache_ttl"].metadata
    assert any(isinstance(m, at.Gt) for m in meta)
