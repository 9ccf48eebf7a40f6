"""Who is calling (SigV4, keys, sessions) and may they (identity and resource policies)."""
