"""The stylesheet of the printable notices: its phone rules apply on screens only, so the
printed A4 notice keeps its layout (the layout itself is checked in Chromium by
tests/browser/test_notices_layout.py)."""

import re

from idp.admin.notices import STYLESHEET


def _blocks(css: str) -> dict[str, str]:
    """Each @media block's condition -> its body (blocks hold rules, one level deep)."""
    found = {}
    for match in re.finditer(r"@media ([^{]+)\{", css):
        depth, start = 1, match.end()
        for end in range(start, len(css)):
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            if depth == 0:
                found[match.group(1).strip()] = css[start:end]
                break
    return found


def test_the_phone_rules_let_the_codes_wrap_on_screens_only():
    css = STYLESHEET.read_text(encoding="utf-8")
    blocks = _blocks(css)
    phone = blocks["screen and (max-width: 36em)"]
    code = re.search(r"\.notice__code \{([^}]*)\}", phone).group(1)
    assert "overflow-wrap: anywhere" in code and "font-size" in code
    assert "grid-template-columns: minmax(0, 1fr)" in phone
    # Outside the media blocks, the codes never wrap and keep their printed size.
    outside = css
    for body in blocks.values():
        outside = outside.replace(body, "")
    assert "overflow-wrap" not in outside
    assert re.search(r"\.notice__code \{[^}]*font-size: 1\.3rem", outside)
    assert "overflow-wrap" not in blocks["print"]


def test_the_stylesheet_can_be_inlined_in_the_standalone_file():
    # `idp accounts distribute --out` puts it as is inside a <style> element.
    css = STYLESHEET.read_text(encoding="utf-8")
    assert '"' not in css and "</" not in css
