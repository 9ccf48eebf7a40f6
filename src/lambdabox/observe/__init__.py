"""Logs, metrics and billing records; any layer may write into it."""
