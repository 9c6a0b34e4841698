"""Atomic writes: a reader sees the old file or the new one, never half of one; checksums match hashlib."""

import hashlib

import pytest

from digitlab.store.atomic import file_sha256, read_json, write_atomic, write_json_atomic


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temp_file(tmp_path):
    """Test that an exception inside the writer keeps the previous content and cleans up."""
    target = tmp_path / "status.json"
    write_json_atomic(target, {"state": "running"})

    def half_then_fail(temp):
        temp.write_text('{"state": "do')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, half_then_fail)
    assert read_json(target) == {"state": "running"}
    assert [path.name for path in tmp_path.iterdir()] == ["status.json"]


def test_unreadable_json_gives_the_default(tmp_path):
    """Test that a missing or broken JSON file reads as the default, not an exception."""
    (tmp_path / "broken.json").write_text("{not json")
    assert read_json(tmp_path / "broken.json", default={}) == {}
    assert read_json(tmp_path / "missing.json") is None


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    """Test that the digest recorded on cards is the plain sha256 of the file, over several read chunks."""
    data = bytes(range(256)) * 10_000
    (tmp_path / "model.keras").write_bytes(data)
    assert file_sha256(tmp_path / "model.keras") == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_file_written_atomically_gets_the_mode_an_ordinary_write_would(tmp_path, umask):
    """Test that a model card written atomically is readable by others where the umask lets an ordinary file
    be (a promoted model was owner-only, unlike the shipped ones), and stays private where it does not."""
    import os
    import stat

    previous = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "card.json", {"name": "my-model"})
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "card.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.json").stat().st_mode) == 0o666 & ~umask
