"""The docs site's generated pages follow the code, and its README sections resolve.

The site itself is built by `python3 dev.py test` (the "docs" step, warnings as errors); these
tests pin down what the two local extensions in docs/_ext generate, and that a warning does
fail a build.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

from django_jobkit.check_catalogue import CATALOGUE
from django_jobkit.conf import Settings
from django_jobkit.management.commands.jobkit import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import jobkit_readme  # noqa: E402 - docs/_ext is not a package
import jobkit_reference  # noqa: E402


def setting_properties() -> dict[str, property]:
    return {name: m for name, m in vars(Settings).items() if isinstance(m, property)}


def test_the_settings_page_lists_every_setting_with_its_default_type_and_docstring():
    page = jobkit_reference.settings_markdown()
    found = {s.name: s for s in jobkit_reference.settings()}
    properties = setting_properties()
    assert set(found) == {f"JOBKIT_{name}" for name in properties}
    for name, member in properties.items():
        setting = found[f"JOBKIT_{name}"]
        assert f"## `JOBKIT_{name}`" in page
        assert setting.type == inspect.signature(member.fget).return_annotation
        first_line = (inspect.getdoc(member) or "").splitlines()[0]
        assert jobkit_reference.escape_prose(first_line) in page, name
    assert found["JOBKIT_RESULTS_RETENTION"].value == 604800
    assert "`604800` (`60 * 60 * 24 * 7`)" in page
    assert found["JOBKIT_GPU_DEVICES"].value is None


def test_the_settings_defaults_are_the_ones_the_properties_return(settings):
    for name in setting_properties():
        if hasattr(settings, f"JOBKIT_{name}"):
            delattr(settings, f"JOBKIT_{name}")  # pytest-django restores it
    defaults = {s.name: s.value for s in jobkit_reference.settings()}
    for name in setting_properties():
        assert getattr(Settings(), name) == defaults[f"JOBKIT_{name}"], name


def test_the_checks_page_lists_every_catalogued_id_with_its_hint():
    page = jobkit_reference.checks_markdown()
    for check_id, spec in CATALOGUE.items():
        assert f"## `{check_id}`" in page
        assert jobkit_reference.escape(spec.hint) in page, check_id
    assert page.count("A database check") == 1


def test_the_commands_page_lists_every_subcommand():
    page = jobkit_reference.commands_markdown()
    for name in SUBCOMMANDS:
        assert f"## `jobkit {name}`" in page
    assert "manage.py jobkit cancel uuid [uuid ...]" in page


def test_an_unknown_block_name_is_left_for_the_build_to_refuse():
    source = "```{jobkit-settings}\n```\n\n```{jobkit-nothing}\n```\n"
    replaced = jobkit_reference.substitute(source)
    assert "## `JOBKIT_MIDDLEWARE`" in replaced and "{jobkit-nothing}" in replaced


README = """# project

Lead text.

## Set up

See [the admin](#the-admin), [its page](docs/admin.md#lists) and ![a shot](docs/s.png).

```python
# settings.py: a comment, not a heading
```

### A subsection

Text under it.

## The admin

Admin text, [set up](#a-subsection).
"""


def test_a_section_is_included_with_its_links_made_relative_to_the_page():
    readme = jobkit_readme.Readme(README)
    pages = {
        "howto/setup": "```{readme-section} Set up\n```\n",
        "reference/admin": "# Admin\n\n```{readme-section} The admin\n:body-only:\n```\n",
    }
    placed = jobkit_readme.placements(readme, pages)
    text = jobkit_readme.render(readme, "Set up", set(), "howto/setup", placed)
    assert text.startswith("## Set up\n")
    assert "[the admin](../reference/admin.md)" in text  # shown without its own heading
    assert "[its page](../admin.md#lists)" in text and "![a shot](../s.png)" in text
    assert "# settings.py: a comment" in text and "### A subsection" in text
    body = jobkit_readme.render(readme, "The admin", {":body-only:"}, "reference/admin", placed)
    assert body.strip() == "Admin text, [set up](../howto/setup.md#a-subsection)."
    lead = jobkit_readme.render(readme, "Set up", {":lead:", ":body-only:"}, "x", placed)
    assert "Text under it" not in lead and "### A subsection" not in lead


def test_a_renamed_section_or_a_link_the_site_cannot_follow_is_an_error():
    readme = jobkit_readme.Readme(README)
    with pytest.raises(jobkit_readme.ReadmeError, match="0 headings 'Setup'"):
        jobkit_readme.placements(readme, {"a": "```{readme-section} Setup\n```\n"})
    placed = jobkit_readme.placements(readme, {"a": "```{readme-section} Set up\n```\n"})
    with pytest.raises(jobkit_readme.ReadmeError, match="which no docs page includes"):
        jobkit_readme.render(readme, "Set up", set(), "a", placed)
    outside = jobkit_readme.Readme("## A\n\nSee [bench](bench/README.md).\n")
    placed = jobkit_readme.placements(outside, {"a": "```{readme-section} A\n```\n"})
    with pytest.raises(jobkit_readme.ReadmeError, match="outside docs/"):
        jobkit_readme.render(outside, "A", set(), "a", placed)


def test_every_readme_section_the_site_includes_renders():
    readme = jobkit_readme.Readme((ROOT / "README.md").read_text())
    pages = {
        str(path.relative_to(DOCS).with_suffix("")): path.read_text()
        for path in DOCS.rglob("*.md")
        if "_ext" not in path.parts
    }
    placed = jobkit_readme.placements(readme, pages)
    assert {"Quickstart", "Going to production", "Testing your jobs", "System checks"} - set(
        placed
    ) == {"System checks"}  # the checks page is generated from the catalogue instead
    for docname, source in pages.items():
        for title, options in jobkit_readme.blocks(source):
            assert jobkit_readme.render(readme, title, options, docname, placed).strip()


def test_a_warning_fails_the_build(tmp_path):
    """The build runs with -W: a README section that does not exist fails it."""
    from sphinx.cmd.build import build_main

    (tmp_path / "README.md").write_text("# project\n\n## Set up\n\nText.\n")
    source = tmp_path / "docs"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "extensions = ['myst_parser', 'jobkit_readme']\n"
    )
    (source / "index.md").write_text("# Project\n\n```{readme-section} Set up\n```\n")
    args = ["-E", "-W", "-q", "-b", "html", str(source), str(tmp_path / "out")]
    assert build_main(args) == 0
    (source / "index.md").write_text("# Project\n\n```{readme-section} Setting up\n```\n")
    assert build_main(args) != 0


def test_no_prose_file_holds_merge_conflict_markers():
    """ruff refuses conflict markers in code, and Sphinx renders them as text: this test is
    what stops a merge left half-resolved in the README, the changelog or a page."""
    prose = [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS.rglob("*.md")]
    marked = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in prose
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith(("<<<<<<< ", ">>>>>>> "))  # "=======" may be a setext heading
    ]
    assert marked == []
