"""Every system check id the package can report is in the catalogue, and the README lists it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.checks import ERROR, WARNING, Error, Warning

import django_jobkit
from django_jobkit.check_catalogue import CATALOGUE, message

PACKAGE = Path(django_jobkit.__file__).resolve().parent
README = (PACKAGE.parent / "README.md").read_text()
CHECK_ID = re.compile(r"django_jobkit\.[EW]\d{3}")


def ids_in_the_code() -> dict[str, str]:
    """Each check id written anywhere in the package but the catalogue, with where it is."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "check_catalogue.py":
            for check_id in CHECK_ID.findall(path.read_text()):
                found[check_id] = str(path.relative_to(PACKAGE))
    return found


def test_every_id_the_checks_can_report_is_in_the_catalogue():
    found = ids_in_the_code()
    assert {"django_jobkit.E001", "django_jobkit.E010", "django_jobkit.W008"} <= set(found)
    missing = {i: where for i, where in found.items() if i not in CATALOGUE}
    assert missing == {}


def test_every_catalogued_id_is_reported_somewhere():
    assert set(CATALOGUE) == set(ids_in_the_code())


def test_the_level_follows_the_id():
    for check_id, spec in CATALOGUE.items():
        assert spec.id == check_id
        assert spec.level == (ERROR if check_id.split(".")[1][0] == "E" else WARNING)
        assert spec.problem and spec.hint, check_id


def test_message_builds_the_level_and_hint_of_the_catalogue():
    error = message("django_jobkit.E005", "USE_TZ is False.")
    assert type(error) is Error and error.hint == CATALOGUE["django_jobkit.E005"].hint
    warning = message("django_jobkit.W008", "m", hint="its own", obj="task")
    assert type(warning) is Warning and (warning.hint, warning.obj) == ("its own", "task")
    with pytest.raises(KeyError):
        message("django_jobkit.E999", "an undocumented id")


def test_the_readme_table_is_the_catalogue():
    start = README.index("\n## System checks\n")
    section = README[start : README.index("\n## ", start + 1)]
    rows = re.findall(r"^\| `(django_jobkit\.[EW]\d{3})` \| (.+) \|$", section, re.M)
    assert [check_id for check_id, _ in rows] == sorted(CATALOGUE)
    for check_id, problem in rows:
        assert problem.startswith(CATALOGUE[check_id].problem), check_id
