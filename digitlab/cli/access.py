"""`python -m digitlab owner-password`: the hash to set as the owner's password (digitlab/config/access.py)."""

from __future__ import annotations

import sys


def add_owner_password_parser(subparsers) -> None:
    owner = subparsers.add_parser("owner-password", help="print the hash to set as the owner's password")
    owner.add_argument("--stdin", action="store_true", help="read the password from standard input")


def run_owner_password(args) -> int:
    import getpass

    from digitlab.config.access import OWNER_PASSWORD_HASH_VAR, hash_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("Owner password: ")
    try:
        print(f'{OWNER_PASSWORD_HASH_VAR} = "{hash_password(password)}"')
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
