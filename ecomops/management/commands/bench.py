"""``manage.py bench <name> [options]``: the project's benchmarks.

Each benchmark lives in its app (``<app>/bench.py``) as ``add_arguments(parser)`` and
``run(options) -> dict``. The command prints the figures and, with ``--json``, one JSON
object. Benchmarks measure against a baseline taken in the same run, never a fixed number.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

BENCHMARKS = {
    "ingest": "connections.bench",
    "recon": "recon.bench",
    "post": "netsuite.bench",
    "export": "canonical.bench",
}


class Command(BaseCommand):
    help = "Run a benchmark: " + ", ".join(sorted(BENCHMARKS))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        subparsers = parser.add_subparsers(dest="benchmark", required=True)
        for name, module_path in BENCHMARKS.items():
            try:
                module = importlib.import_module(module_path)
            except ImportError:
                continue
            # argparse formats help strings with %: a docstring's "~1%" must not break --help.
            summary = (module.__doc__ or "").strip().split("\n")[0].replace("%", "%%")
            sub = subparsers.add_parser(name, help=summary)
            sub.add_argument("--json", action="store_true", help="print one JSON object")
            module.add_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["benchmark"]
        try:
            module = importlib.import_module(BENCHMARKS[name])
        except ImportError as exc:
            raise CommandError(f"benchmark {name!r} is not available: {exc}") from exc
        result = module.run(options, out=self.stdout)
        if options["json"]:
            self.stdout.write(json.dumps(result, default=str))
