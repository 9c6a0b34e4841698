"""One result line per image file, for the commands that read files: predict, predict --number, explain."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np


def report_each_file(files: Iterable[Path], read: Callable[[np.ndarray], dict], describe: Callable[[dict], str],
                     as_json: bool) -> int:
    """Read each file as an image and print read(image) as one JSON line, or describe(result) for a person.

    A file that is not a readable image (or that read refuses with a ValueError) gets an error line
    instead, and the others are still read. Returns 1 when any file failed, else 0: the exit status.
    """
    from digitlab.serving.images import ImageRejectedError, read_image_file

    failures = 0
    for file in files:
        try:
            result = {"file": str(file), **read(read_image_file(file))}
        except (ImageRejectedError, ValueError) as error:
            failures += 1
            result = {"file": str(file), "error": str(error)}
        if as_json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{file}: error: {result['error']}", flush=True)
        else:
            print(describe(result), flush=True)
    return 1 if failures else 0
