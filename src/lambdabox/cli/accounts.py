"""`lambdabox accounts create|list`: the operator's accounts, each with root credentials.

These act on the data dir directly (its database and its key), as only its owner can: an
account is not something a caller of the API can make.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lambdabox.settings import DEFAULT_DATA_DIR, default_data_dir


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "accounts", help="create and list accounts", description="Create and list the accounts of a data dir."
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="a new account with root credentials",
        description="Make an account with root credentials, written as the profile ACCOUNT_ID of DATA_DIR/credentials.",
    )
    create.add_argument("--id", help="its 12-digit id (default: a random one)")
    listing = actions.add_parser(
        "list", help="the accounts and their credential profiles",
        description="List the data dir's accounts and the credentials profile of each.",
    )
    for action in (create, listing):
        action.add_argument(
            "--data-dir", type=Path, default=None,
            help=f"the server's data dir (default: $LAMBDABOX_DATA_DIR, else {DEFAULT_DATA_DIR})",
        )
        action.add_argument(
            "--database-url", default=os.environ.get("LAMBDABOX_DATABASE_URL", ""),
            help="the server's database, if not SQLite in the data dir (default: $LAMBDABOX_DATABASE_URL)",
        )
        action.add_argument("--default-account", default="000000000000", help="the server's --default-account")
    create.set_defaults(run=run_create)
    listing.set_defaults(run=run_list)


def _open(arguments: argparse.Namespace):
    from lambdabox.control.credentials import Credentials
    from lambdabox.settings import Settings
    from lambdabox.store.records import RecordStore
    from lambdabox.store.sealed import Sealer, load_key

    data_dir = (arguments.data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database_url=arguments.database_url, default_account=arguments.default_account)
    store = RecordStore(settings.database)
    return settings, store, Credentials(store, Sealer(load_key(data_dir / "secrets.key")))


def run_create(arguments: argparse.Namespace) -> int:
    from lambdabox.control import profiles
    from lambdabox.control.credentials import AccountExists

    if arguments.id is not None and not (arguments.id.isascii() and arguments.id.isdigit() and len(arguments.id) == 12):
        print(f"lambdabox accounts: an account id is 12 digits, not {arguments.id!r}", file=sys.stderr)
        return 2
    settings, store, credentials = _open(arguments)
    try:
        profiles.ensure_account(credentials, settings.default_account)
        try:
            account, _ = credentials.create_account(arguments.id)
        except AccountExists:
            print(f"lambdabox accounts: account {arguments.id} exists", file=sys.stderr)
            return 1
        profiles.write_all(settings.credentials_file, credentials, settings.default_account)
    finally:
        store.close()
    print(f"{account}  profile '{account}' in {settings.credentials_file}")
    return 0


def run_list(arguments: argparse.Namespace) -> int:
    settings, store, credentials = _open(arguments)
    try:
        accounts = credentials.accounts()
    finally:
        store.close()
    for account in accounts:
        profile = "default" if account == settings.default_account else account
        print(f"{account}  profile '{profile}' in {settings.credentials_file}")
    return 0
