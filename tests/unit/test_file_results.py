"""One result line per image file: a good file is read, a bad one gets an error line, and the exit status says so."""

import json

import numpy as np
from PIL import Image

from digitlab.cli.file_reports import report_each_file


def test_each_file_gets_one_line_and_a_bad_file_an_error_line_without_stopping(tmp_path, capsys):
    """Test that good files are read in order around a non-image and a missing file, and the status is 1."""
    good = tmp_path / "ink.png"
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(good)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    seen = []

    def read(image) -> dict:
        seen.append(image.shape[:2])
        return {"height": int(image.shape[0])}

    status = report_each_file([text, good, tmp_path / "missing.png", good], read, lambda r: "unused", as_json=True)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1 and seen == [(40, 40), (40, 40)]
    assert [sorted(line) for line in lines] == [["error", "file"], ["file", "height"], ["error", "file"],
                                                ["file", "height"]]
    assert "not a PNG or JPEG" in lines[0]["error"] and lines[1] == {"file": str(good), "height": 40}


def test_text_lines_use_the_description_and_all_good_files_exit_zero(tmp_path, capsys):
    """Test that without --json each result is described for a person, and only good files give status 0."""
    good = tmp_path / "ink.png"
    Image.fromarray(np.zeros((10, 30), np.uint8)).save(good)

    status = report_each_file([good], lambda image: {"width": int(image.shape[1])},
                              lambda result: f"{result['file']} is {result['width']} wide", as_json=False)

    assert status == 0 and capsys.readouterr().out == f"{good} is 30 wide\n"
