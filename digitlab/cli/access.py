"""`python -m digitlab owner-password`: the hash to set as the owner's password (digitlab/config/access.py)."""

from __future__ import annotations

import sys


def add_owner_password_parser(subparsers) -> None:
    owner = subparsers.add_parser("owner-password", help="print the hash to set as the owner's password")
    owner.add_argument("--stdin", action="store_true", help="read the password from standard input")


def run_owner_password(args) -> int:
    import getpass

    from digitlab.config.access import OWNER_PASSWORD_HASH_VAR, hash_password

    password = without_line_ending(sys.stdin.readline()) if args.stdin else getpass.getpass("Owner password: ")
    try:
        print(f'{OWNER_PASSWORD_HASH_VAR} = "{hash_password(password)}"')
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def without_line_ending(line: str) -> str:
    """line without its line ending, LF or a Windows file's or pipe's CRLF, so the hash is of the password as typed.

    Only the line ending goes: other spaces may be part of the password.
    """
    return line[:-2] if line.endswith("\r\n") else line.removesuffix("\n")
