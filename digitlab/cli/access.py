"""`python -m digitlab owner-password`: the hash to set as the owner's password (digitlab/config/access.py)."""

from __future__ import annotations

import sys


def add_owner_password_parser(subparsers) -> None:
    owner = subparsers.add_parser("owner-password", help="print the hash to set as the owner's password")
    owner.add_argument("--stdin", action="store_true", help="read the password from standard input")


def run_owner_password(args) -> int:
    import getpass

    from digitlab.config.access import OWNER_PASSWORD_HASH_VAR, hash_password

    try:
        password = without_line_ending(stdin_line()) if args.stdin else getpass.getpass("Owner password: ")
    except EOFError:  # input ended (an empty pipe or file, or Ctrl-D at the prompt) before any line came
        ended_prompt = "" if args.stdin else "\n"  # getpass leaves its prompt's line open when input ends
        print(f"{ended_prompt}error: no password was given: the input ended before a line was read.",
              file=sys.stderr)
        return 2
    try:
        print(f'{OWNER_PASSWORD_HASH_VAR} = "{hash_password(password)}"')
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def stdin_line() -> str:
    """Standard input's next line; EOFError, as getpass gives, when the input has ended before one.

    An empty line is a line (an empty password, refused by hash_password); no line at all is no password given.
    """
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def without_line_ending(line: str) -> str:
    """line without its line ending, LF or a Windows file's or pipe's CRLF, so the hash is of the password as typed.

    Only the line ending goes: other spaces may be part of the password.
    """
    return line[:-2] if line.endswith("\r\n") else line.removesuffix("\n")
