"""Accessibility and phone-layout checks run inside the browser walks.

axe-core (npm) is installed by `make test` into var/axe when missing; it is evaluated
in the page through the DevTools protocol, so a strict Content-Security-Policy (no
inline scripts) does not stand in its way. A walk fails on any serious or critical
violation, naming the rule and the elements.
"""

from __future__ import annotations

from pathlib import Path

import pytest

AXE = (
    Path(__file__).resolve().parents[2] / "var" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
)
FAILING_IMPACTS = {"serious", "critical"}

_RUN_AXE_JS = """async () => {
  const result = await window.axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary.replace(/\\n/g, ' ')),
  }));
}"""

# Elements that stick out of the card they sit in, by tag#id.class, at the current width.
_OUTSIDE_CARD_JS = """() => {
  const out = [];
  for (const card of document.querySelectorAll('.card')) {
    const box = card.getBoundingClientRect();
    if (!box.width) continue;
    for (const el of card.querySelectorAll('*')) {
      const inner = el.getBoundingClientRect();
      if (!inner.width || !inner.height) continue;
      if (inner.right > box.right + 1 || inner.left < box.left - 1) {
        out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
          (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
          ' [' + Math.round(inner.left) + ', ' + Math.round(inner.right) + '] outside [' +
          Math.round(box.left) + ', ' + Math.round(box.right) + ']');
      }
    }
  }
  return out.slice(0, 10);
}"""


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (make test installs it with npm)")
    if not page.evaluate("() => Boolean(window.axe)"):
        # The source itself is the evaluated script (no eval() in the page, which a
        # strict CSP would refuse).
        page.evaluate(AXE.read_text() + "\n;true")
    return [v for v in page.evaluate(_RUN_AXE_JS) if v["impact"] in FAILING_IMPACTS]


def assert_accessible(page, what: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"{what}: axe finds serious or critical problems: {violations}"


def assert_nothing_outside_cards(page, what: str) -> None:
    culprits = page.evaluate(_OUTSIDE_CARD_JS)
    assert not culprits, f"{what} at {page.viewport_size['width']} px: cut off: {culprits}"
