"""Timestamps in the forms Lambda's API prints them."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)


def lambda_time(moment: datetime) -> str:
    """Lambda's LastModified form: 2024-05-01T12:00:00.000+0000."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
