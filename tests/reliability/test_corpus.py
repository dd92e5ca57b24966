from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.reliability.corpus import CORPUS_PATH, load_corpus
from harness.reliability.forge import forge, relative_time
from harness.reliability.hostile import render
from harness.tokens import dev_minter

ROOT = Path(__file__).resolve().parents[2]


def _seg(token: str, i: int) -> dict:
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_the_seed_corpus_loads_and_covers_both_catalogue_sections():
    cases = load_corpus(ROOT / CORPUS_PATH)
    assert len({c.id for c in cases}) == len(cases)
    assert {c.section for c in cases} == {"§1", "§2"}
    assert sum(c.section == "§1" for c in cases) >= 60


def test_an_unknown_key_in_a_case_names_file_case_and_field(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text('_format_version: "1"\ncases:\n  - id: x-y\n    row: "§1 r"\n'
                   '    expect: {status: 401, statuss: 2}\n')
    with pytest.raises(ConfigError, match=r"c\.yaml: cases\[x-y\]\.expect\.statuss: expected one of"):
        load_corpus(bad)


def test_a_row_outside_the_catalogue_sections_is_refused(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text('_format_version: "1"\ncases:\n  - id: x\n    row: "§9 r"\n'
                   '    expect: {status: 401}\n')
    with pytest.raises(ConfigError, match=r"cases\[x\]\.row: expected the catalogue row"):
        load_corpus(bad)


CTX = {"tenant_a": "ta", "tenant_b": "tb", "ssrf_url": "http://127.0.0.1:9"}


def test_forge_alg_none_has_an_empty_signature_and_the_requested_alg():
    tok = forge({"alg": "nOnE", "sign": "empty"}, CTX, dev_minter(), now=1000)
    assert tok.endswith(".") and _seg(tok, 0)["alg"] == "nOnE"
    assert _seg(tok, 1)["tenant_id"] == "ta"


def test_forge_relative_claims_and_tamper_after_signing():
    m = dev_minter()
    tok = forge({"claims": {"exp": "now-61"}, "tamper": {"tenant_id": "tb"}}, CTX, m, now=1000)
    assert _seg(tok, 1)["exp"] == 939 and _seg(tok, 1)["tenant_id"] == "tb"
    import jwt
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tok, m.key().public_pem, algorithms=["RS256"],
                   options={"verify_exp": False, "verify_aud": False})


def test_forge_signs_verifiably_with_the_dev_key():
    import jwt
    m = dev_minter()
    tok = forge({"sign": "rsa"}, CTX, m, now=None)
    claims = jwt.decode(tok, m.key().public_pem, algorithms=["RS256"],
                        audience=m.audience)
    assert claims["tenant_id"] == "ta"


def test_relative_time_keeps_fractions_and_walks_lists():
    assert relative_time("now-10.5", 100) == 89.5
    assert relative_time(["now+1", 5], 100) == [101, 5]


def test_render_puts_authorization_after_host_and_expands_junk_headers():
    cases = {c.id: c for c in load_corpus(ROOT / CORPUS_PATH)}
    v = {"host_a": "a.example", "path": "/api/users/h-n", "token": "T", "tenant_b": "tb",
         "token_b": "TB"}
    data = render(cases["tenant-header-after-100-junk-headers"], v)[0]
    lines = data.split(b"\r\n")
    assert lines[:3] == [b"GET /api/users/h-n HTTP/1.1", b"Host: a.example",
                         b"Authorization: Bearer T"]
    assert sum(ln.startswith(b"X-Junk-") for ln in lines) == 100
    assert lines[-3] == b"X-Tenant-ID: tb"
