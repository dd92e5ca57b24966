import jwt
import pytest

from harness.contracts import TokenSpec
from harness.contracts.tokens import MUTATIONS, mint
from harness.tokens import dev_minter

NOW = 1_800_000_000
M = dev_minter()


def header(tok):
    return jwt.get_unverified_header(tok)


def claims(tok):
    return jwt.decode(tok, options={"verify_signature": False})


def verify(tok):
    return jwt.decode(tok, M.key().public_pem, algorithms=["RS256"],
                      audience="api.app.example.com", options={"verify_exp": False, "verify_iat": False,
                                                               "verify_nbf": False})


def test_valid_token_verifies_with_the_dev_public_key():
    tok = mint(M, TokenSpec("acme"), NOW)
    assert verify(tok)["tenant_id"] == "acme" and header(tok)["kid"] == "auth-dev-1"


@pytest.mark.parametrize("mutation,check", [
    ("expired", lambda t: claims(t)["exp"] < NOW),
    ("nbf-future", lambda t: claims(t)["nbf"] > NOW),
    ("exceeds-max-exp", lambda t: claims(t)["exp"] - NOW > 3600),
    ("alg-none", lambda t: header(t)["alg"] == "none" and t.endswith(".")),
    ("hs256-public-key", lambda t: header(t)["alg"] == "HS256"),
    ("unknown-kid", lambda t: header(t)["kid"] == "not-a-known-key"),
    ("no-kid", lambda t: "kid" not in header(t)),
    ("wrong-issuer", lambda t: claims(t)["iss"] == "https://evil.example.com"),
    ("wrong-audience", lambda t: claims(t)["aud"] == "someone-else.example.com"),
])
def test_each_mutation_breaks_exactly_what_it_says(mutation, check):
    assert check(mint(M, TokenSpec("acme", mutation), NOW))


@pytest.mark.parametrize("mutation", ["bad-signature", "tampered-payload"])
def test_forged_tokens_do_not_verify(mutation):
    with pytest.raises(jwt.InvalidSignatureError):
        verify(mint(M, TokenSpec("acme", mutation), NOW))


def test_unknown_mutation_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown token mutation 'nope'; known:"):
        mint(M, TokenSpec("acme", "nope"))
    assert "valid" in MUTATIONS
