"""Keep secrets (API keys, the WebSocket token) out of log output.

pygls logs whole messages at -vv: `initialize` params with initializationOptions, and the
client's answers to workspace/configuration, which is where editors put
`starcoder.apiKey`. Rather than patching every log call, the log formatter redacts
(a) any value written after an `apiKey` / `api_key` / `Authorization` / `token` key and
(b) every secret value the server has been given, wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
# `"apiKey": "x"`, `'api_key': 'x'`, `api_key='x'`, `Authorization: Bearer x`, `token=x`
_KEYED = re.compile(
    r"""(?i)((?:api[_-]?key|authorization|ws[_-]?token|[?&]token)["']?\s*[:=]\s*["']?"""
    r"""(?:bearer\s+)?)([^"'\s,;)}\]&]+)""")
_known: set[str] = set()
_lock = threading.Lock()


def remember(secret: str | None) -> None:
    """Redact this value from all later log output (short values would hit innocent text)."""
    if secret and len(secret) >= 8:
        with _lock:
            _known.add(secret)


def redact(text: str) -> str:
    text = _KEYED.sub(lambda m: m.group(1) + MASK, text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A Formatter whose whole output (message, arguments, traceback) is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
