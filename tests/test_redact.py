"""The secret rules, with the names and values real CI jobs set."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyo3_cache.keys.model import path_scrubber
from pyo3_cache.keys.parts import env_part, env_secrets
from pyo3_cache.redact import (
    REDACTED,
    is_secret,
    is_secret_name,
    looks_secret_value,
    redact_env_value,
    redact_text,
    scrub_url_credentials,
    secret_parts,
)

SECRET_NAMES = (
    "CARGO_REGISTRY_TOKEN",
    "CARGO_REGISTRIES_CORP_TOKEN",
    "CARGO_REGISTRIES_MY_REGISTRY_TOKEN",
    "CARGO_REGISTRIES_CORP_CREDENTIAL_PROVIDER",  # may carry a token as an argument
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SENTRY_AUTH_TOKEN",
    "NPM_AUTH_TOKEN",
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "PYPI_API_TOKEN",
    "TWINE_PASSWORD",
    "MATURIN_PASSWORD",
    "SCCACHE_GCS_KEY_PATH_SECRET",
    "SENTRY_DSN",
    "MY_API_KEY",
    "GPG_PRIVATE_KEY",
    "DOCKER_AUTH",
)
PUBLIC_NAMES = (
    "CARGO_REGISTRIES_CORP_INDEX",  # judged by its value (a URL may hold a password)
    "CARGO_REGISTRIES_TOKEN_MIRROR_INDEX",  # a registry called "token-mirror"
    "CARGO_REGISTRIES_PRIVATE_INDEX",
    "CARGO_PKG_AUTHORS",  # cargo sets it; env!("CARGO_PKG_AUTHORS") shows in dep-info
    "PYO3_ENVIRONMENT_SIGNATURE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "CARGO_PROFILE_RELEASE_LTO",
    "RUSTFLAGS",
    "PATH",
    "CARGO_PATCH_DIR",
    "KEYBOARD_LAYOUT",
)


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_secret(name: str) -> None:
    assert is_secret_name(name)
    assert redact_env_value(name, "anything") == REDACTED


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_build_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (
            "sparse+https://ci-user:hunter2pw@crates.corp.example/index/",
            "sparse+https://***@crates.corp.example/index/",
        ),
        ("https://u:p@host/", "https://***@host/"),
        # An unencoded @ in the password: all of it goes, not only up to the first @.
        ("https://user:p@ss@host/x", "https://***@host/x"),
        ("https://ghp_abcdefghijklmnop1234@github.com/o/r", REDACTED),
        ("ssh://git@github.com/o/r.git", "ssh://***@github.com/o/r.git"),
    ],
)
def test_urls_with_credentials_keep_scheme_host_and_path(value: str, shown: str) -> None:
    assert looks_secret_value(value)
    assert is_secret("CARGO_REGISTRIES_CORP_INDEX", value)
    assert redact_env_value("CARGO_REGISTRIES_CORP_INDEX", value) == shown


def test_a_query_with_at_is_no_credential() -> None:
    value = "https://host/path?who=a@b"
    assert not looks_secret_value(value)
    assert scrub_url_credentials(value) == value


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "A1" * 18,
        "github_pat_" + "a" * 30,
        "glpat-" + "x" * 20,
        "pypi-" + "AgEIcHlwaS5vcmc" * 3,
        "cio" + "a1B2" * 8,
        "AKIAIOSFODNN7EXAMPLE",
        "sntrys_" + "eyJpYXQiOjE3MDAwMDAwMDB9" * 2,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXBhcnQ",
    ],
)
def test_token_shaped_values_are_secret_whatever_the_name(token: str) -> None:
    assert looks_secret_value(token)
    assert redact_env_value("RUSTFLAGS", f"-C link-arg={token}") == REDACTED
    assert token not in redact_text(f"error: bad token {token} given")


def test_commit_hashes_are_not_tokens() -> None:
    commit = "59807616e1a2b3c4d5e6f708192a3b4c5d6e7f80"
    assert not looks_secret_value(commit)
    assert redact_text(f"commit-hash: {commit}") == f"commit-hash: {commit}"
    assert not looks_secret_value("precious" + "a" * 40)  # "cio" inside a word


def test_mask_pieces_are_the_secret_parts_only() -> None:
    url = "sparse+https://ci-user:hunter2pw@crates.corp.example/index/"
    pieces = secret_parts("CARGO_REGISTRIES_CORP_INDEX", url)
    assert pieces == ["ci-user:hunter2pw", "hunter2pw"]
    assert secret_parts("CARGO_REGISTRIES_CORP_INDEX", "ssh://git@github.com/x") == []
    assert secret_parts("SOME_TOKEN_ENABLED", "true") == []  # a mask of "true" hides too much
    assert secret_parts("CARGO_REGISTRY_TOKEN", "cio-very-secret") == ["cio-very-secret"]


def test_env_part_hashes_the_index_host_not_the_password(tmp_path: Path) -> None:
    scrub = path_scrubber(tmp_path, {})

    def part(url: str) -> tuple[str, str]:
        p = env_part({"CARGO_REGISTRIES_CORP_INDEX": url}, scrub)
        shown = p.inputs["CARGO_REGISTRIES_CORP_INDEX"]
        assert isinstance(shown, str)
        return p.hash, shown

    one, shown = part("sparse+https://u:first-pw@crates.corp.example/index/")
    two, _ = part("sparse+https://u:second-pw@crates.corp.example/index/")
    other, _ = part("sparse+https://u:first-pw@crates.other.example/index/")
    assert one == two  # the password is never hashed
    assert one != other  # another index host is another build
    assert shown == "sparse+https://***@crates.corp.example/index/"
    env = {"CARGO_REGISTRIES_CORP_INDEX": "sparse+https://u:first-pw@h.example/"}
    assert env_secrets(env) == ("u:first-pw", "first-pw")
