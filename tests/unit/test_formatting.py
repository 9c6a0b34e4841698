"""How the pages write counts and quote what a visitor typed (digitlab/ui/formatting.py)."""

from __future__ import annotations

from digitlab.ui.formatting import WORD_JOINER, counted, plain_markdown, verb


def test_a_count_takes_its_noun_in_the_right_number():
    """Test that one of a thing is singular and any other count plural, with thousands separated and bold on ask."""
    assert counted(1, "drawing") == "1 drawing" and counted(0, "drawing") == "0 drawings"
    assert counted(2345, "misclassified image") == "2,345 misclassified images"
    assert counted(1, "run", bold=True) == "**1** run"
    assert f"{counted(1, 'drawing')} {verb(1, 'matches', 'match')}" == "1 drawing matches"
    assert f"{counted(3, 'drawing')} {verb(3, 'matches', 'match')}" == "3 drawings match"


def test_typed_text_is_quoted_so_markdown_shows_it_as_typed():
    """Test that every character Streamlit's Markdown gives a meaning is escaped, and other text is left alone."""
    typed = "![x](http://e.com/x.png) [a](b) **b** `c` :red[d] :material/home: $e$ <i>f</i> # g | h ~i~"
    quoted = plain_markdown(typed)
    assert quoted.replace("\\", "").replace(WORD_JOINER, "") == typed, "only backslashes and word joiners are added"
    for special in "![]()*`:$<>#|~":
        assert all(quoted[i - 1] == "\\" for i, character in enumerate(quoted) if character == special)
    assert plain_markdown("Class 4B") == "Class 4B"


def test_typed_addresses_are_broken_where_markdown_would_make_them_links():
    """Test that a web or mail address typed as a writer tag keeps none of the patterns Streamlit's Markdown turns
    into links ("www.", "name@", "scheme://"), whatever the case, and reads the same once the joiners are gone.
    (tests/e2e/test_visitor_drawings_browser.py checks the page shows no link.)"""
    for typed in ("www.evil.com", "WWW.Evil.Com", "me@evil.com", "http://a.b", "see www.evil.com now"):
        quoted = plain_markdown(typed)
        shown = quoted.replace("\\", "")
        assert shown.replace(WORD_JOINER, "") == typed
        assert "www." not in shown.lower() and "://" not in shown
        assert all(not before[-1:].isalnum() for before in shown.split("@")[:-1]), "nothing runs into an @"
