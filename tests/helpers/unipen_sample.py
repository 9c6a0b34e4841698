"""A small UNIPEN archive cut from the real one: a few writer files per category and institution, same layout."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

SHARED_UNIPEN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "unipen-dev.tar.gz"


def write_small_unipen(out: Path, files_per_institution: int = 1, max_include_bytes: int = 400_000) -> Path:
    """Copy the first writer files of each category and institution (with what they include) into out.

    Writer files whose pen data is larger than max_include_bytes are passed over, so the archive stays
    small enough to read in a fraction of a second.
    """
    with tarfile.open(SHARED_UNIPEN) as archive:
        members = {member.name.lstrip("./"): member for member in archive if member.isfile()}
        chosen: dict[str, bytes] = {}
        taken: dict[tuple[str, str], int] = {}
        for name in sorted(members):
            parts = name.split("/")
            if parts[0] != "data" or not name.endswith(".dat"):
                continue
            key = (parts[1], parts[2])
            if taken.get(key, 0) >= files_per_institution:
                continue
            text = archive.extractfile(members[name]).read()
            includes = ["include/" + line.split()[1] for line in text.decode("latin-1").splitlines()
                        if line.startswith(".INCLUDE") and len(line.split()) > 1]
            if any(include not in members for include in includes):
                continue
            if sum(members[include].size for include in includes if include.endswith(".dat")) > max_include_bytes:
                continue
            chosen[name] = text
            for include in includes:
                chosen.setdefault(include, archive.extractfile(members[include]).read())
            taken[key] = taken.get(key, 0) + 1
    with tarfile.open(out, "w:gz") as small:
        for name, data in sorted(chosen.items()):
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            small.addfile(info, io.BytesIO(data))
    return out
