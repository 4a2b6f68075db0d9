"""No argument makes a project command fail with a traceback or lose anything.

Every option of every command of the project's apps (``manage.py help``, found from Django's
command registry, so a new command is swept too) gets hostile values, one option at a time,
the others valid. What a command answers is a ``CommandError``: ``manage.py`` prints it as one
line on stderr and exits non-zero. Anything else raised would be a traceback. A refusal writes
nothing.

The commands that serve or measure until stopped (``sandbox``, ``bench``) have their
arguments parsed only: a value they accept would start them.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from django.core.management import CommandError, call_command, get_commands, load_command_class

from tests.hostile import LONG, WriteWatch, short

PROJECT_APPS = ("ecomops", "tenants", "audit", "connections", "canonical", "recon", "netsuite", "mcp_bridge")
PARSED_ONLY = ("sandbox", "bench")
DJANGOS = ("verbosity", "settings", "pythonpath")  # every command's, parsed by Django

# What a shell can put in an argument (bytes that are no UTF-8 reach Python as lone
# surrogates, by surrogateescape), and what a caller of call_command can (a NUL).
ARGUMENT_VALUES: dict[str, str] = {
    "nul": "a\x00b",
    "invalid_utf8": "po_\udcff\udcfe",
    "long": LONG,
    "empty": "",
    "blank": "   ",
    "negative": "-1",
    "zero": "0",
    "beyond_64_bit": str(2**64),
    "huge": "9" * 5000,
    "not_a_uuid": "not-a-uuid",
    "bad_date": "2026-13-45",
    "path": "../../../etc/passwd",
    "option_like": "--help",
}

# Valid values for the options a command requires, so a hostile value in one reaches the rest.
VALID = {"--tenant": "acme", "--user": "viewer@acme.example.com"}


def _commands() -> list[str]:
    """The project's commands that take a value (``rotate_credentials`` and ``ensure_demo`` take none)."""
    names = sorted(name for name, app in get_commands().items() if app.split(".")[-1] in PROJECT_APPS)
    return [name for name in names if _options(_parser(name))]


def _parser(name: str) -> argparse.ArgumentParser:
    return load_command_class(get_commands()[name], name).create_parser("manage.py", name)


def _options(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(the subcommand path, the option's action) for every option that takes a value."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, (*prefix, name))
        elif action.option_strings and action.nargs != 0 and action.dest not in DJANGOS:
            found.append((prefix, action))
    return found


def _required(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[0] for a in parser._actions if a.required and a.option_strings]


@pytest.mark.parametrize("name", _commands())
def test_no_hostile_argument_makes_a_command_fail_or_write(name, tenant_a, in_tenant, capsys):
    parser = _parser(name)
    watch = WriteWatch(tenant_a.tenant, in_tenant)
    problems: list[str] = []

    for prefix, action in _options(parser):
        option = action.option_strings[-1]
        sub = parser if not prefix else _subparser(parser, prefix)
        for label, value in ARGUMENT_VALUES.items():
            args = [*prefix]
            for required in _required(sub):
                if required != option:
                    args += [required, VALID[required]]
            args += [option, value]
            case = f"{name} {' '.join(args[:-1])} {label}"
            try:
                if name in PARSED_ONLY:
                    parser.parse_args(args)
                else:
                    call_command(name, *args)
            except CommandError:
                # manage.py: one line on stderr, a non-zero exit; and nothing written
                if written := watch.changed():
                    problems.append(f"{case}: refused but wrote {written}")
            except Exception as exc:
                problems.append(f"{case}: raised {type(exc).__name__}: {short(str(exc))}")
            else:
                watch.changed()  # what a run it accepted wrote is its own
    capsys.readouterr()  # what the commands printed is theirs; the problems say what failed

    assert problems == [], "\n".join(problems)


def _subparser(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> argparse.ArgumentParser:
    for name in prefix:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser
