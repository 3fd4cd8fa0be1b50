"""Sphinx configuration of the documentation site (`python3 dev.py docs`).

The pages are Markdown (MyST). The reference lists (settings, system checks, `manage.py
jobkit`) are generated from the code and the README's sections are included rather than
copied, by the two local extensions in `_ext/`; the build runs with warnings as errors
(`-W --keep-going -n`), so a broken link, a section the README renamed or a list that no longer
matches the code fails it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "_ext"), str(HERE.parent)]

project = "django-jobkit"
author = "django-jobkit contributors"
copyright = "django-jobkit contributors"

extensions = ["myst_parser", "jobkit_readme", "jobkit_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_ext", "_build"]
nitpicky = True

# Anchors for every heading down to ###, so that `page.md#section` links resolve, as on GitHub.
myst_heading_anchors = 3

html_theme = "furo"
html_title = "django-jobkit"

# Quotes and dashes as written: `--arg`, 'json' and "default" are things to type.
smartquotes = False
