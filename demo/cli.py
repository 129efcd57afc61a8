"""The `cjm demo` subcommand: its arguments here, the simulation (demo/simulation.py)
imported only when it runs, so the other commands start without it."""

from __future__ import annotations

import argparse

from bot.cli import Commands, whole


def add_demo_command(commands: Commands) -> None:
    demo = commands.add_parser("demo", help="simulated guests on a fake Telegram; no token")
    demo.add_argument("--customers", type=whole, default=200, help="how many (default 200)")
    demo.add_argument("--seed", type=whole, default=7, help="random seed (default 7)")
    demo.add_argument("--out", default="cjm-demo", help="directory for demo.db (./cjm-demo)")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from demo.simulation import run_cli  # noqa: PLC0415

    return run_cli(args.customers, args.seed, args.out)
