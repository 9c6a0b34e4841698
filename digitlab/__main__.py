"""`python -m digitlab ...`: the command line (digitlab/cli/), run as a process of its own."""

import os
import sys

from digitlab.cli.parser import main

if __name__ == "__main__":
    try:
        sys.exit(main(quiet_logs=True))
    except BrokenPipeError:  # the reader went away (`... --json | head`): what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error flushing stdout at exit
        sys.exit(0)
