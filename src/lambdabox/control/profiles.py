"""The accounts' root credentials as an AWS shared-credentials file in the data dir.

The file holds a profile per account, named by the account id, and ``default`` for the
default account, so that ``AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/credentials`` is all a
client needs (and ``AWS_PROFILE=ACCOUNT_ID`` picks another account). It is rewritten
whole, mode 0600, through a new file renamed into place; a link at its path is replaced,
never followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from lambdabox.control.credentials import AccessKey, AccountExists, Credentials


def ensure_account(credentials: Credentials, account: str) -> bool:
    """Make `account` with a root key unless it exists; whether it was made now."""
    if credentials.account_exists(account):
        return False
    try:
        credentials.create_account(account)
    except AccountExists:
        return False
    return True


def write(path: Path, default_account: str, roots: dict[str, AccessKey]) -> None:
    lines = [
        "# Lambdabox: the root credentials of each account on this server. Keep this file secret.",
        f"# export AWS_SHARED_CREDENTIALS_FILE={path}",
        f"# Profile 'default' is account {default_account}; AWS_PROFILE=<account id> picks another.",
    ]
    sections = ([("default", roots[default_account])] if default_account in roots else [])
    sections += [(account, roots[account]) for account in sorted(roots)]
    for name, key in sections:
        lines += ["", f"[{name}]", f"aws_access_key_id = {key.access_key}", f"aws_secret_access_key = {key.secret}"]
    text = "\n".join(lines) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def write_all(path: Path, credentials: Credentials, default_account: str) -> None:
    """(Re)write the file from the accounts the store holds."""
    write(path, default_account, credentials.root_keys())
