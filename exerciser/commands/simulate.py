"""``exerciser simulate``: serve the broker simulator until interrupted."""

from __future__ import annotations

import argparse
from pathlib import Path

from exerciser.commands._common import Context, Subcommands
from exerciser.sim import Scenario, load_scenario, sample_scenario_path, serve


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        parents=parents,
        help="serve the local broker simulator",
        description="Serve the Clear Street API simulator until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181, help="0 picks a free port")
    parser.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")


def scenario_of(args: argparse.Namespace) -> Scenario:
    return load_scenario(args.scenario or sample_scenario_path())


def run(args: argparse.Namespace, ctx: Context) -> int:
    out = ctx.out
    scenario = scenario_of(args)

    def ready(base_url: str) -> None:
        print(f"simulator listening on {base_url} (token {scenario.token!r})", file=out)
        out.flush()

    serve(scenario, args.host, args.port, on_ready=ready)
    return 0
