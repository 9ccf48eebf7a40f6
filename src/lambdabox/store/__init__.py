"""Persistence: control-plane records in SQL, archives in a content-addressed store on disk."""
