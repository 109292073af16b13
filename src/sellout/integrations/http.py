"""HTTP sessions that retry transient errors (connection drops, read timeouts, 429, 5xx) with urllib3's ``Retry``.

urllib3 logs each retry at WARNING with the request's path, where webhooks keep their token: those lines are
masked and lowered to DEBUG (the caller logs the outcome once).
"""

from __future__ import annotations

import logging

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

WEBHOOK_RETRY_STATUS = (408, 425, 429, 500, 502, 503, 504)
SERVER_RETRY_STATUS = (429, 500, 502, 503, 504)


class _QuietRetries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Retrying") and isinstance(record.args, tuple) and record.args:
            record.args = (*record.args[:-1], "<path not logged>")
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_QuietRetries())


def retrying_session(
    retries: int, backoff_s: float, status_forcelist: tuple[int, ...] = SERVER_RETRY_STATUS
) -> requests.Session:
    """A session whose requests (POSTs too) are retried up to ``retries`` times on transient errors."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        status_forcelist=status_forcelist,
        allowed_methods=None,
        backoff_factor=backoff_s,
        backoff_max=60,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
