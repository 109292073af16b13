import time

import pytest

from sellout.config.secrets import redact_url
from sellout.integrations import db


def test_connection_errors_are_retried_then_reported_without_the_password(tmp_path, caplog):
    url = f"postgresql://loader:s3cret-canary@/sellout?host={tmp_path}&connect_timeout=1"
    started = time.monotonic()
    with pytest.raises(ConnectionError) as error:
        db.connect(url, attempts=3, base_delay=0.05)
    message = str(error.value)
    assert "after 3 attempts" in message and f"loader@{tmp_path}" in message
    assert "s3cret-canary" not in message and "s3cret-canary" not in caplog.text
    assert caplog.text.count("retrying") == 2
    assert time.monotonic() - started >= 0.15  # 0.05 + 0.1 of backoff


def test_connect_works_against_the_embedded_server(db_url):
    with db.connect(db_url) as conn:
        assert conn.execute("select 1.5::numeric").fetchone()[0] == 1.5  # numerics load as floats
        assert conn.prepare_threshold is None  # no server-side prepared statements (pooler)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h:5432/d failed", "postgresql://u:***@h:5432/d failed"),
        ("no url here", "no url here"),
    ],
)
def test_redact(text, expected):
    assert redact_url(text, None) == expected


def test_quote_table_and_refusals():
    assert db.quote_table("raw.sellout_lines") == '"raw"."sellout_lines"'
    with pytest.raises(db.UnsafeIdentifierError):
        db.quote_table('raw."x"')


def test_dsn_parts_of_a_supabase_pooler_url():
    parts = db.dsn_parts(
        "postgresql://postgres.abc:pw@aws-0-eu.pooler.supabase.com:6543/postgres?sslmode=require"
    )
    assert parts == {
        "host": "aws-0-eu.pooler.supabase.com",
        "port": "6543",
        "user": "postgres.abc",
        "password": "pw",
        "dbname": "postgres",
        "sslmode": "require",
    }
