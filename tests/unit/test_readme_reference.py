"""The README's reference tables (records, errors, settings) stay true to the code."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from django_jobkit import conf, exceptions
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start : README.index("\n## ", start + 1)]


def named(text: str) -> set[str]:
    """Every identifier inside a `code` span: `result.attempts()` names `attempts`."""
    spans = re.findall(r"`([^`]+)`", text)
    return {name for span in spans for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


def test_the_records_table_names_every_field_users_can_query():
    documented = named(section("Records"))
    for model in (JobRequest, JobProcess, JobResult, JobWorker):
        fields = {f.name for f in model._meta.concrete_fields if not f.primary_key}
        assert fields <= documented, (model.__name__, sorted(fields - documented))
    assert {"attempts", "wait", "duration", "root_uuid", "retry_job_request_uuid"} <= documented
    assert {s.name for s in JobResult.Status} <= documented


def test_the_errors_table_names_every_exception_of_the_package():
    documented = named(section("Errors"))
    classes = {
        name
        for name, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, Exception) and not issubclass(cls, Warning)
    }
    assert classes <= documented, sorted(classes - documented)


def test_the_settings_table_lists_every_setting_with_its_default():
    """Each `getattr(settings, "JOBKIT_X", default)` in conf.py against the table's row."""
    rows = dict(re.findall(r"^\| `(JOBKIT_[A-Z_]+)` \| `([^`]*)` \|", section("Settings"), re.M))
    defaults = {}
    for node in ast.walk(ast.parse(Path(conf.__file__).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr":
            name, default = node.args[1], node.args[2]
            assert isinstance(name, ast.Constant)
            # Plain literals and arithmetic on them (60 * 60 * 24 * 7), nothing else.
            assert all(
                isinstance(n, ast.Constant | ast.BinOp | ast.operator | ast.List | ast.Load)
                for n in ast.walk(default)
            ), ast.unparse(default)
            defaults[name.value] = eval(ast.unparse(default), {"__builtins__": {}})
    assert set(defaults) == set(rows)
    for name, default in defaults.items():
        assert ast.literal_eval(rows[name]) == default, name
