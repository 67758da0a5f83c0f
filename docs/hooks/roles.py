"""MkDocs hook: the docstrings use Sphinx cross-reference roles (``:func:`x```), which
Markdown renders as ``:func:<code>x</code>``; drop the role name, keep the code."""

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):(<code>)")


def on_page_content(html, **kwargs):
    return _ROLE.sub(r"\1", html)
