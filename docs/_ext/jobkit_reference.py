"""Reference pages generated from the code, so that the lists cannot drift from it.

A page holds a block such as

    ```{jobkit-settings}
    ```

which is replaced, before MyST parses the page, by Markdown made from the code:

- `jobkit-settings`: every `JOBKIT_*` setting, from the properties of `django_jobkit.conf`:
  the default written in its `getattr(settings, "JOBKIT_X", default)`, the property's return
  type and its docstring;
- `jobkit-checks`: every system check id, from `django_jobkit.check_catalogue` (the table the
  checks build their messages from): level, problem and hint;
- `jobkit-commands`: every `manage.py jobkit` subcommand, from its `Subcommand` class: help,
  usage and arguments, as argparse reads them.

The settings are read from the source, not from `django.conf.settings`; the subcommands'
arguments need the app registry (they import the models), so Django is set up with the
smallest configuration that loads the package when nothing configured it before.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from argparse import SUPPRESS, Action, ArgumentParser, HelpFormatter
from dataclasses import dataclass
from typing import Any

BLOCK = re.compile(r"^```\{(?P<name>jobkit-[a-z]+)\}[ \t]*\n^```[ \t]*$", re.M)
USAGE_WIDTH = 100
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def escape(text: str) -> str:
    """Plain text (a hint, an argparse help) shown as written, not read as Markdown."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def escape_prose(text: str) -> str:
    """A docstring: its `code spans` kept, the rest shown as written (`<cron>` is no HTML tag)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else escape(part) for part in parts)


def cell(code: str) -> str:
    """A code span in a table cell, whose `|` (as in `str | None`) would end the cell."""
    return "`" + code.replace("|", "\\|") + "`"


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingDoc:
    name: str  # JOBKIT_X
    default: str  # the default as written in conf.py: `60 * 60 * 24 * 7`
    value: Any  # and its value: 604800
    type: str  # the property's return annotation
    doc: str


def settings() -> list[SettingDoc]:
    """Every setting of `django_jobkit.conf.Settings`, in the order conf.py defines them."""
    from django_jobkit.conf import Settings

    found = []
    for attribute, member in vars(Settings).items():
        if not isinstance(member, property) or member.fget is None:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(member.fget)))
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "getattr"
            and len(node.args) == 3
        ]
        if len(calls) != 1:
            raise ValueError(f"Settings.{attribute} reads no getattr(settings, name, default)")
        name, default = calls[0].args[1], calls[0].args[2]
        if not isinstance(name, ast.Constant) or name.value != f"JOBKIT_{attribute}":
            raise ValueError(f"Settings.{attribute} reads {ast.unparse(name)}")
        written = ast.unparse(default)
        found.append(
            SettingDoc(
                name=name.value,
                default=written,
                value=eval(written, {"__builtins__": {}}),  # literals and arithmetic on them
                type=str(inspect.signature(member.fget).return_annotation),
                doc=inspect.getdoc(member) or "",
            )
        )
    return found


def shown_default(setting: SettingDoc) -> str:
    value = f"`{setting.value!r}`"
    return value if repr(setting.value) == setting.default else f"{value} (`{setting.default}`)"


def settings_markdown() -> str:
    found = settings()
    lines = [
        "| setting | default | type |",
        "|---|---|---|",
        *(
            f"| [`{s.name}`](#{s.name.lower()}) | {shown_default(s)} | {cell(s.type)} |"
            for s in found
        ),
        "",
    ]
    for s in found:
        lines += [
            f"## `{s.name}`",
            "",
            f"Default {shown_default(s)}; type `{s.type}`.",
            "",
            escape_prose(s.doc),
            "",
        ]
    return "\n".join(lines)


# --- system checks ----------------------------------------------------------------------------


def checks_markdown() -> str:
    from django.core.checks import ERROR

    from django_jobkit.check_catalogue import CATALOGUE

    specs = [CATALOGUE[check_id] for check_id in sorted(CATALOGUE)]
    lines = ["| id | level | problem |", "|---|---|---|"]
    for spec in specs:
        anchor = spec.id.lower().replace(".", "")
        level = "error" if spec.level == ERROR else "warning"
        lines.append(f"| [`{spec.id}`](#{anchor}) | {level} | {spec.problem} |")
    lines.append("")
    for spec in specs:
        level = "Error" if spec.level == ERROR else "Warning"
        lines += [f"## `{spec.id}`", "", f"**{level}**: {spec.problem}.", ""]
        if spec.database:
            lines += [
                "A database check: `migrate` and `manage.py check --database default` run it.",
                "",
            ]
        lines += [f"Hint: {escape(spec.hint)}", ""]
    return "\n".join(lines)


# --- manage.py jobkit ---------------------------------------------------------------------------


def setup_django() -> None:
    """Load the app registry with the apps jobkit needs (no database is opened)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "django_celery_beat",
                "django_celery_results",
                "django_jobkit",
            ],
            USE_TZ=True,
        )
    django.setup()


def commands_markdown() -> str:
    setup_django()
    from django_jobkit.management.commands.jobkit import SUBCOMMANDS

    lines = []
    for name, subcommand in sorted(SUBCOMMANDS.items()):
        parser = ArgumentParser(
            prog=f"manage.py jobkit {name}",
            add_help=False,
            # A fixed width: argparse would wrap the usage at the terminal's (COLUMNS).
            formatter_class=lambda prog: HelpFormatter(prog, width=USAGE_WIDTH),
        )
        subcommand().add_arguments(parser)
        usage = parser.format_usage().removeprefix("usage: ").strip()
        lines += [f"## `jobkit {name}`", "", escape(subcommand.help), "", "```text", usage, "```"]
        rows = [
            (invocation(action), action.help or "")
            for action in parser._actions  # argparse keeps them nowhere public
            if action.help != SUPPRESS
        ]
        if rows:
            lines += ["", "| argument | meaning |", "|---|---|"]
            lines += [f"| `{flag}` | {escape(text)} |" for flag, text in rows]
        lines.append("")
    return "\n".join(lines)


def invocation(action: Action) -> str:
    """`--queue QUEUE`, `--json`, `uuid`: an argument as it is typed."""
    if not action.option_strings:
        return str(action.metavar or action.dest)
    if action.nargs == 0:  # a flag
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    return ", ".join(f"{option} {metavar}" for option in action.option_strings)


GENERATORS = {
    "jobkit-settings": settings_markdown,
    "jobkit-checks": checks_markdown,
    "jobkit-commands": commands_markdown,
}


def substitute(source: str) -> str:
    """The page's source with each block replaced by what it names.

    A block naming nothing here is left as it is: MyST then reports an unknown directive, a
    warning, which fails the build.
    """

    def generate(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match["name"])
        return generator() if generator else match[0]

    return BLOCK.sub(generate, source)


def setup(app: Any) -> dict[str, Any]:
    def on_source_read(app: Any, docname: str, source: list[str]) -> None:
        source[0] = substitute(source[0])

    app.connect("source-read", on_source_read)
    # The pages depend on the code, not on their sources: read them again at every build.
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: generated(env))
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def generated(env: Any) -> list[str]:
    from pathlib import Path

    return [
        name
        for name in env.found_docs
        if BLOCK.search(Path(env.doc2path(name)).read_text(errors="replace"))
    ]
