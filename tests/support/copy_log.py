"""Which format each bulk load used, from copy_in's DEBUG log (capture it with ``caplog.set_level``)."""

from __future__ import annotations

COPY_LOGGER = "sellout.datasets.copy_in"


def copy_formats(caplog) -> list[str]:
    """The format ("binary" or "CSV") of each COPY that ``copy_frame`` logged, in order."""
    messages = [record.getMessage() for record in caplog.records if record.name == COPY_LOGGER]
    return [message.rsplit(" ", 1)[-1] for message in messages if message.startswith("COPY ")]
