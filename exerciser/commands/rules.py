"""``exerciser rules check FILE``: validate a rules file and say what it would do."""

from __future__ import annotations

import argparse
from pathlib import Path

from exerciser.adapters.rules_yaml import load_rules
from exerciser.commands._common import Context, Subcommands
from exerciser.reports.rules import describe_rules


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "rules", parents=parents, help="work with rules files", description="Rules files."
    )
    actions = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate a rules file and describe what it does", parents=parents
    )
    check.add_argument("file", type=Path)


def run(args: argparse.Namespace, ctx: Context) -> int:
    out = ctx.out
    rules = load_rules(args.file)  # RulesError -> exit 2, one line per problem
    print(f"{args.file}: valid", file=out)
    print(describe_rules(rules), file=out)
    return 0
