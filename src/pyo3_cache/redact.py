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

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|APIKEY|API_KEY|ACCESS_KEY|"
    r"SESSION_KEY|(^|_)KEY($|_)|(^|_)AUTH|(^|_)PAT($|_)|(^|_)DSN($|_)|COOKIE|SIGNATURE"
)

# user:password@ (or a lone token as the user part) in a URL of any scheme,
# including cargo's ``sparse+https://`` and git's ``ssh://``.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s:]*(?::[^/@\s]*)?)@"
)

# Token formats with a recognisable shape: GitHub (ghp_/gho_/ghu_/ghs_/ghr_,
# github_pat_, v1.<40 hex>), GitLab (glpat-), PyPI (pypi-), crates.io (cio),
# AWS access key ids, Slack, Sentry, npm, JWTs, and 40-hex classic tokens.
_TOKEN_LIKE = re.compile(
    r"(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|v1\.[0-9a-fA-F]{40}"
    r"|glpat-[A-Za-z0-9_-]{16,}|pypi-[A-Za-z0-9_-]{16,}|cio[A-Za-z0-9]{28,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|xox[abposr]-[A-Za-z0-9-]{10,}|sntrys_[A-Za-z0-9+/=_-]{16,}"
    r"|npm_[A-Za-z0-9]{30,}|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\b[0-9a-fA-F]{40}\b)"
)


def is_secret_name(name: str) -> bool:
    """Whether an env var's name says it holds a secret (its value is never used)."""
    upper = name.upper()
    if upper.startswith("AWS_") and upper not in {"AWS_REGION", "AWS_DEFAULT_REGION"}:
        return "KEY" in upper or "TOKEN" in upper or "SECRET" in upper
    return bool(_SECRET_NAME.search(upper))


def has_url_credentials(value: str) -> bool:
    """Whether ``value`` holds a URL with a user or password part."""
    return any(m.group("userinfo") for m in _URL_CREDENTIALS.finditer(value))


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
    """What may be shown of ``name=value``: ``<redacted>`` for secrets, else the value."""
    return REDACTED if is_secret(name, value) else value
