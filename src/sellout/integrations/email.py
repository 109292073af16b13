"""E-mail over SMTP (STARTTLS or SSL), retried with backoff on connection errors; a wrong password is not retried."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from sellout.config.notifications import Channel


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, smtplib.SMTPException | OSError) and not isinstance(
        exc, smtplib.SMTPAuthenticationError
    )


def send_email(
    channel: Channel, message: EmailMessage, *, timeout_s: float, attempts: int, backoff_s: float
) -> None:
    """Send ``message`` through the channel's server; raises the last error after ``attempts`` tries."""
    sender = retry(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=backoff_s),
        reraise=True,
    )(_send_once)
    sender(channel, message, timeout_s)


def _send_once(channel: Channel, message: EmailMessage, timeout_s: float) -> None:
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if channel.uses_ssl:
        client = smtplib.SMTP_SSL(channel.smtp_host, channel.port, timeout=timeout_s, context=context)
    else:
        client = smtplib.SMTP(channel.smtp_host, channel.port, timeout=timeout_s)
    with client:
        client.ehlo()
        if channel.uses_starttls:
            client.starttls(context=context)
            client.ehlo()
        password = channel.password.get_secret_value() if channel.password else None
        if channel.username and password:
            client.login(channel.username, password)
        client.send_message(message)
