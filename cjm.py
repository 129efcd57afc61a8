"""The `cjm` console script: the bot's commands (bot/cli.py) and `cjm demo` (demo/).

The one module that knows both, so that bot/ never imports the demo.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bot import cli
from demo.cli import add_demo_command


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, extra=(add_demo_command,))


if __name__ == "__main__":
    sys.exit(main())
