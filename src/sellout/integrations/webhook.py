"""JSON webhooks (n8n, Slack incoming webhooks and relays): a POST with retries that never fails the caller.

Webhook URLs often carry a secret in their path or query, so only ``scheme://host[:port]`` is ever logged, and
exception texts (which contain the full URL) are not. Retries are urllib3's: connection errors, read timeouts, 429
and 5xx, with exponential backoff and ``Retry-After`` honoured (:mod:`sellout.integrations.http`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sellout.config.secrets import safe_url
from sellout.integrations.http import WEBHOOK_RETRY_STATUS, retrying_session

logger = logging.getLogger(__name__)


def send_webhook(
    url: str, event: dict[str, Any], *, timeout_s: float = 10, attempts: int = 3, backoff_s: float = 1.0
) -> bool:
    """POST ``event`` as JSON; ``True`` on a 2xx answer, ``False`` otherwise (logged at WARNING). Never raises."""
    target = safe_url(url)
    kind = event.get("event", "event") if isinstance(event, dict) else "event"
    try:
        body = json.dumps(event, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        logger.warning("Notification %s NOT sent to webhook %s: event is not JSON (%s)", kind, target, exc)
        return False
    headers = {"Content-Type": "application/json", "User-Agent": "sellout-notifier"}
    try:
        with retrying_session(max(1, int(attempts)) - 1, backoff_s, WEBHOOK_RETRY_STATUS) as session:
            response = session.post(url, data=body, timeout=timeout_s, headers=headers)
    except Exception as exc:  # noqa: BLE001 - a notifier must never fail the run; the text holds the URL
        problem = type(exc).__name__
    else:
        if 200 <= response.status_code < 300:
            logger.info("Notification %s sent to webhook %s (HTTP %s)", kind, target, response.status_code)
            return True
        problem = f"HTTP {response.status_code}"
    logger.warning(
        "Notification %s NOT sent to webhook %s after up to %d attempt(s): %s",
        kind,
        target,
        attempts,
        problem,
    )
    return False
