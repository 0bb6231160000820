"""Secrets stay out of everything we write: keys, manifests, logs, reports.

One set of rules for every output (key manifests, ``key-diff``, workflow
commands, the job summary, the PR comment, warnings, ``explain``):

* a variable whose *name* says it holds a secret (``*TOKEN*``, ``*SECRET*``,
  ``*PASSWORD*``, ``AWS_*`` keys, ``*_AUTH*`` ...) never shows its value;
* a *value* that looks like a credential (a GitHub or cloud token, a URL with
  ``user:password@``) is redacted whatever the variable is called, e.g.
  ``CARGO_REGISTRIES_MY_INDEX=sparse+https://user:password@host/``;
* free text (a cargo log line, an error message) has token-shaped words and
  URL passwords replaced.

This module sits at the bottom of the package: it imports nothing of ours.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
TEXT_REDACTED = "***"

# Words in a variable's name that say its value is a secret.  Kept narrow on
# purpose: ``AUTH`` must not catch ``CARGO_PKG_AUTHORS`` (cargo sets it for
# ``env!``), ``SIGNATURE`` would catch PyO3's ``PYO3_ENVIRONMENT_SIGNATURE``,
# ``PRIVATE`` alone a registry called "private".
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIALS?($|_)|PRIVATE_?KEY|APIKEY|API_KEY|ACCESS_KEY"
    r"|SESSION_KEY|(^|_)KEY($|_)|(^|_)AUTH($|_|ORIZATION)|(^|_)PAT($|_)|(^|_)DSN($|_)|COOKIE"
)
# cargo's per-registry variables: only the field after the registry's name
# says what the value is (a registry may be called "token-mirror").
_CARGO_REGISTRY_VAR = re.compile(
    r"^CARGO_REGISTRIES_.+?_(INDEX|TOKEN|CREDENTIAL_PROVIDER|PROTOCOL)$"
)
_CARGO_SECRET_FIELDS = frozenset({"TOKEN", "CREDENTIAL_PROVIDER"})  # a provider may take a token
_AWS_PUBLIC = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"})

# The user-info of a URL of any scheme, including cargo's ``sparse+https://``
# and git's ``ssh://``: everything between ``//`` and the last ``@`` before the
# host (a password holding an unencoded ``@`` is still covered whole).
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s@]*(?:@[^/?#\s@]*)*)@"
    r"(?=[^/?#\s@]*(?:[/?#\s]|$))"
)

# Token formats with a recognisable shape: GitHub (ghp_/gho_/ghu_/ghs_/ghr_,
# github_pat_, v1.<40 hex>), GitLab (glpat-), PyPI (pypi-), crates.io (cio +
# 32), AWS access key ids, Slack, Sentry, npm, JWTs.  A bare 40-hex word is not
# one: it is what git commits and ``rustc -vV``'s commit-hash look like.
_TOKEN_LIKE = re.compile(
    r"(?:\bgh[pousr]_[A-Za-z0-9]{16,}|\bgithub_pat_[A-Za-z0-9_]{16,}|\bv1\.[0-9a-fA-F]{40}\b"
    r"|\bglpat-[A-Za-z0-9_-]{16,}|\bpypi-[A-Za-z0-9_-]{16,}|\bcio[A-Za-z0-9]{32}\b"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bxox[abposr]-[A-Za-z0-9-]{10,}|\bsntrys_[A-Za-z0-9+/=_-]{16,}"
    r"|\bnpm_[A-Za-z0-9]{30,}|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
# Shorter values are not worth a mask: ``::add-mask::true`` would hide every
# "true" in the log.
_MASK_MIN_LENGTH = 8


def is_secret_name(name: str) -> bool:
    """Whether an env var's name says it holds a secret (its value is never used)."""
    upper = name.upper()
    registry = _CARGO_REGISTRY_VAR.match(upper)
    if registry:
        return registry.group(1) in _CARGO_SECRET_FIELDS
    if upper.startswith("AWS_"):
        return upper not in _AWS_PUBLIC and any(w in upper for w in ("KEY", "TOKEN", "SECRET"))
    return bool(_SECRET_NAME.search(upper))


def _userinfos(value: str) -> list[str]:
    return [m.group("userinfo") for m in _URL_CREDENTIALS.finditer(value) if m.group("userinfo")]


def has_url_credentials(value: str) -> bool:
    """Whether ``value`` holds a URL with a user or password part."""
    return bool(_userinfos(value))


def looks_secret_value(value: str) -> bool:
    """Whether ``value`` itself looks like a credential, whatever it is called."""
    return has_url_credentials(value) or bool(_TOKEN_LIKE.search(value))


def is_secret(name: str, value: str) -> bool:
    """Whether a variable must never be shown or hashed: by its name or its value."""
    return is_secret_name(name) or looks_secret_value(value)


def scrub_url_credentials(text: str) -> str:
    """``text`` with every URL's ``user:password@`` replaced by ``***@``."""

    def repl(m: re.Match[str]) -> str:
        if not m.group("userinfo"):
            return m.group(0)
        return f"{m.group('scheme')}{TEXT_REDACTED}@"

    return _URL_CREDENTIALS.sub(repl, text)


def redact_text(text: str, *secrets: str) -> str:
    """``text`` with the given secrets, token-shaped words and URL passwords as ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, TEXT_REDACTED)
    text = scrub_url_credentials(text)
    return _TOKEN_LIKE.sub(TEXT_REDACTED, text)


def redact_env_value(name: str, value: str) -> str:
    """What may be shown of ``name=value``.

    ``<redacted>`` for a secret name or a token-shaped value; a URL with
    credentials keeps its scheme, host and path (``sparse+https://***@host/``),
    so a reader (and a key) still sees which index it is.
    """
    if is_secret_name(name) or _TOKEN_LIKE.search(value):
        return REDACTED
    return scrub_url_credentials(value)


def secret_parts(name: str, value: str) -> list[str]:
    """The pieces of ``name=value`` a log must never show: for ``::add-mask::``.

    The whole value of a secret-named variable or a token; of a URL, only its
    user-info (and the password alone), never the host.  Short pieces are
    left out (a mask of "true" would hide every "true" in the log).
    """
    pieces: list[tuple[str, int]] = []
    if is_secret_name(name):
        pieces.append((value, _MASK_MIN_LENGTH))
    pieces += [(token, 1) for token in _TOKEN_LIKE.findall(value)]
    for userinfo in _userinfos(value):
        user, colon, password = userinfo.partition(":")
        if colon:  # user:password: both, and the password alone
            pieces += [(userinfo, 4), (password, 4)]
        else:  # a lone user ("git") is no secret; a lone token is
            pieces.append((user, _MASK_MIN_LENGTH))
    out: list[str] = []
    for piece, least in pieces:
        if len(piece) >= least and piece not in out:
            out.append(piece)
    return out
