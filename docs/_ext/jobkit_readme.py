"""README sections inside the docs site, so that their text is written once.

The README stays the front door; a docs page takes a section of it with a block

    ```{readme-section} Going to production
    :body-only:
    ```

which is replaced, before MyST parses the page, by that section's Markdown: its heading and
everything down to the next heading of the same or a higher level (`:body-only:` leaves the
heading out and raises the section's own subheadings one level, for a page that has its own
title; `:lead:` keeps only the text before the section's first subheading). The README's links
are rewritten for the page: `docs/admin.md` becomes relative to it, and `#records` points at
the page that includes the "Records" section. A link to a section no page includes, or to a
file outside docs/, is an error, as is a section title the README does not have: the build
runs with warnings as errors, so the site cannot silently lose a section the README renames.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK = re.compile(
    r"^```\{readme-section\}[ \t]*(?P<title>.*?)[ \t]*\n(?P<options>.*?)^```[ \t]*$", re.M | re.S
)
HEADING = re.compile(r"^(?P<marks>#{1,6})[ \t]+(?P<title>.+?)[ \t]*$")
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
OPTIONS = {":body-only:", ":lead:"}


class ReadmeError(ValueError):
    """A block that names no README section, or a link the site cannot follow."""


def slug(title: str) -> str:
    """A heading's anchor, as GitHub makes it: `run_in_worker` options -> run_in_worker-options."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # index in Readme.lines


class Readme:
    """The README's lines and its headings (outside code blocks: `# settings.py` is a comment)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headings: list[Heading] = []
        fenced = False
        for number, line in enumerate(self.lines):
            if FENCE.match(line):
                fenced = not fenced
            elif not fenced and (match := HEADING.match(line)):
                self.headings.append(Heading(len(match["marks"]), match["title"], number))

    def heading(self, title: str) -> Heading:
        found = [h for h in self.headings if h.title == title]
        if len(found) != 1:
            raise ReadmeError(f"README.md has {len(found)} headings {title!r}, not one")
        return found[0]

    def end(self, heading: Heading, *, lead: bool = False) -> int:
        """The line after the section: the next heading of the same or higher level (any, for
        `lead`)."""
        later = [h for h in self.headings if h.line > heading.line]
        stop = [h for h in later if lead or h.level <= heading.level]
        return stop[0].line if stop else len(self.lines)

    def owner(self, anchor: str) -> Heading:
        """The level-2 section (or the title) a `#anchor` of the README falls in."""
        matches = [h for h in self.headings if slug(h.title) == anchor]
        if not matches:
            raise ReadmeError(f"README.md has no heading for the link #{anchor}")
        target = matches[0]
        owners = [h for h in self.headings if h.line <= target.line and h.level <= 2]
        return owners[-1]


@dataclass(frozen=True)
class Placement:
    """Where a README section is shown: its page, and whether its heading is there too."""

    docname: str
    body_only: bool


def blocks(source: str) -> list[tuple[str, set[str]]]:
    """The (title, options) of each readme-section block of a page."""
    found = []
    for match in BLOCK.finditer(source):
        options = set(match["options"].split())
        if options - OPTIONS:
            raise ReadmeError(f"unknown readme-section option(s) {sorted(options - OPTIONS)}")
        found.append((match["title"], options))
    return found


def placements(readme: Readme, pages: dict[str, str]) -> dict[str, Placement]:
    """README section title -> where it is shown, from every page's source (docname -> text)."""
    placed: dict[str, Placement] = {}
    for docname, source in sorted(pages.items()):
        for title, options in blocks(source):
            readme.heading(title)
            if title in placed:
                raise ReadmeError(
                    f"README section {title!r} is included by both {placed[title].docname} "
                    f"and {docname}"
                )
            placed[title] = Placement(docname, ":body-only:" in options)
    return placed


def render(
    readme: Readme, title: str, options: set[str], docname: str, placed: dict[str, Placement]
) -> str:
    """The section's Markdown as the page `docname` shows it."""
    heading = readme.heading(title)
    first = heading.line + 1 if ":body-only:" in options else heading.line
    lines = readme.lines[first : readme.end(heading, lead=":lead:" in options)]
    if ":body-only:" in options:
        lines = raise_headings(lines)
    here = posixpath.dirname(docname)
    text = "\n".join(lines)
    return LINK.sub(lambda m: f"]({link(readme, m['target'], here, docname, placed)})", text)


def raise_headings(lines: list[str]) -> list[str]:
    """`### X` becomes `## X` outside code blocks."""
    raised, fenced = [], False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("##"):
            line = line[1:]
        raised.append(line)
    return raised


def link(readme: Readme, target: str, here: str, docname: str, placed: dict[str, Placement]) -> str:
    if re.match(r"[a-z]+:", target):  # https:, mailto:
        return target
    if target.startswith("#"):
        anchor = target[1:]
        owner = readme.owner(anchor)
        if owner.title not in placed:
            raise ReadmeError(
                f"the README links to #{anchor}, in section {owner.title!r}, which no docs page "
                "includes"
            )
        where = placed[owner.title]
        # A section shown without its heading has no anchor of its own: link to its page.
        page_only = where.body_only and slug(owner.title) == anchor
        fragment = "" if page_only else target
        if where.docname == docname and fragment:
            return fragment
        return posixpath.relpath(where.docname + ".md", here or ".") + fragment
    if target.startswith("docs/"):
        return posixpath.relpath(target.removeprefix("docs/"), here or ".")
    raise ReadmeError(f"the README links to {target}, outside docs/: the site cannot follow it")


def setup(app: Any) -> dict[str, Any]:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    readme_path = Path(app.srcdir).parent / "README.md"
    state: dict[str, Any] = {}

    def read_placements(app: Any, env: Any, docnames: list[str]) -> None:
        readme = Readme(readme_path.read_text())
        pages = {
            name: Path(env.doc2path(name)).read_text()
            for name in env.found_docs
            if str(env.doc2path(name)).endswith(".md")
        }
        state["readme"] = readme
        try:
            state["placed"] = placements(readme, pages)
        except ReadmeError as exc:
            state["placed"] = {}
            logger.warning("readme-section: %s", exc)

    def substitute(app: Any, docname: str, source: list[str]) -> None:
        if "{readme-section}" not in source[0]:
            return
        app.env.note_dependency(str(readme_path))

        def replace(match: re.Match[str]) -> str:
            options = set(match["options"].split())
            try:
                return render(state["readme"], match["title"], options, docname, state["placed"])
            except ReadmeError as exc:
                logger.warning("readme-section: %s", exc, location=docname)
                return ""

        source[0] = BLOCK.sub(replace, source[0])

    app.connect("env-before-read-docs", read_placements)
    app.connect("source-read", substitute)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
