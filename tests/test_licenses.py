import pytest

from rag_video.licenses import attribution_text, terms, to_spdx


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        ("CC BY 3.0", "CC-BY-3.0"),
        ("CC-BY 4.0", "CC-BY-4.0"),
        ("cc by-sa 4.0", "CC-BY-SA-4.0"),
        ("Creative Commons Attribution 3.0", "CC-BY-3.0"),
        ("CC0", "CC0-1.0"),
        ("CC0 1.0", "CC0-1.0"),
        ("Public Domain", "LicenseRef-PublicDomain"),
        ("proprietary", "proprietary"),
        ("All Rights Reserved", "proprietary"),
        ("cc-by-nc-nd-4.0", "CC-BY-NC-ND-4.0"),
        ("CC BY 2", "CC-BY-2.0"),
        ("GPL", None),
        ("", None),
        (None, None),
        ("CC 4.0", None),
        ("Public Domain AND CC0", "LicenseRef-PublicDomain AND CC0-1.0"),
        ("CC0 AND CC0-1.0", "CC0-1.0"),
        ("CC0 AND GPL", None),
    ],
)
def test_to_spdx(text: str | None, spdx: str | None) -> None:
    assert to_spdx(text) == spdx


def test_terms() -> None:
    t = terms("CC-BY-NC-ND-4.0")
    assert (t.derivatives, t.commercial, t.attribution, t.share_alike, t.known) == (
        False,
        False,
        True,
        False,
        True,
    )
    t = terms("CC-BY-SA-3.0")
    assert (t.derivatives, t.commercial, t.attribution, t.share_alike) == (True, True, True, True)
    t = terms("CC0-1.0")
    assert (t.derivatives, t.commercial, t.attribution) == (True, True, False)
    assert terms("proprietary").derivatives is False
    assert terms("MIT").known is False
    assert terms(None).known is False
    both = terms("CC-BY-NC-4.0 AND CC0-1.0")  # a file combining two works: what both permit
    assert (both.derivatives, both.commercial, both.attribution, both.known) == (
        True,
        False,
        True,
        True,
    )
    assert terms("CC0-1.0 AND MIT").known is False


def test_attribution_text() -> None:
    assert (
        attribution_text("Sea", "Ann", "CC-BY-4.0", "http://x")
        == '"Sea" by Ann (http://x), CC-BY-4.0'
    )
