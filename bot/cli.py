"""The bot's commands of the `cjm` console script (cjm.py adds `cjm demo`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeAlias

from bot import logs
from bot.settings import Settings, SettingsError, load_settings
from surveys.loader import SurveyError, load_survey

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
AddCommand: TypeAlias = Callable[[Commands], None]  # a subcommand defined outside bot/


def main(argv: Sequence[str] | None = None, extra: Sequence[AddCommand] = ()) -> int:
    parser = _parser(extra)
    args = parser.parse_args(argv)
    logs.configure(verbose=False)
    try:
        return int(args.handler(args) or 0)
    except (SettingsError, SurveyError) as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser(extra: Sequence[AddCommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cjm", description="Customer journey interview bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="apply migrations, then serve the bot and the HTTP API"
    ).set_defaults(handler=_run)
    survey = commands.add_parser("survey", help="survey files").add_subparsers(
        dest="survey_command", required=True
    )
    check = survey.add_parser("check", help="validate a survey file")
    check.add_argument("file", help="a YAML file, or a bundled template: cafe, online_shop, lean")
    check.set_defaults(handler=_survey_check)
    order = commands.add_parser("order", help="orders").add_subparsers(
        dest="order_command", required=True
    )
    add = order.add_parser("add", help="register an order and print the customer's link")
    add.add_argument("ref", help="the customer's reference (phone, loyalty card, CRM id)")
    add.add_argument("--segment", help="branch, channel or product line")
    add.add_argument("--external-id", help="the order's id in your system (idempotency key)")
    add.add_argument("--purchased-at", type=_moment, help="ISO time with zone; default now")
    add.set_defaults(handler=_order_add)
    _orders_parser(commands)
    customer = commands.add_parser("customer", help="customers").add_subparsers(
        dest="customer_command", required=True
    )
    relink = customer.add_parser(
        "relink",
        help="move a linked customer to another Telegram account: prints a one-time link",
        description="A customer linked to Telegram is never moved by an ordinary link. This "
        "prints one that moves them, pending questions and staff replies included, to the "
        "account that opens it and agrees. Exit 1: no such customer, or not linked yet.",
    )
    relink.add_argument("ref", help="the customer's reference")
    relink.set_defaults(handler=_customer_relink)
    db = commands.add_parser("db", help="database").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)
    commands.add_parser("status", help="waves by status").set_defaults(handler=_status)
    waves = commands.add_parser("waves", help="the outbox").add_subparsers(
        dest="waves_command", required=True
    )
    resend = waves.add_parser(
        "resend",
        help="send again waves whose send is unknown, after showing them",
        description="A send is unknown when its request was written and the answer lost: "
        "the customer may or may not have the question. Check (e.g. ask a few of them), "
        "then resend: those who did get it will see it twice.",
    )
    resend.add_argument(
        "--unknown", action="store_true", required=True, help="the waves whose send is unknown"
    )
    resend.add_argument(
        "--since", type=_since, help="only those that became unknown since (YYYY-MM-DD or ISO)"
    )
    resend.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    resend.set_defaults(handler=_waves_resend)
    report = commands.add_parser("report", help="write the report files for a period")
    report.add_argument("--from", dest="start", type=_day, help="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_day, help="YYYY-MM-DD, inclusive")
    report.add_argument("--days", type=whole, default=7, help="without --from: the last N days")
    report.add_argument("--segment", help="only this segment")
    report.add_argument("--locale", help="en or ru; default the survey's")
    report.add_argument("--out", type=Path, help="folder (default report-FROM-TO)")
    report.set_defaults(handler=_report)
    themes = commands.add_parser("themes", help="comment themes").add_subparsers(
        dest="themes_command", required=True
    )
    suggest = themes.add_parser(
        "suggest",
        help="print `themes:` entries for recurring words no theme covers",
        description="Reads the complaints of the last N days that no theme of the survey "
        "covers and prints their recurring words and phrases as `themes:` entries for the "
        "survey file (translate the labels, merge those that mean the same).",
    )
    suggest.add_argument("--days", type=_positive, default=30, help="the last N days (30)")
    suggest.add_argument("--segment", help="only this segment")
    suggest.set_defaults(handler=_themes_suggest)
    for add_command in extra:
        add_command(commands)
    return parser


def _orders_parser(commands: Commands) -> None:
    orders = commands.add_parser("orders", help="orders in bulk").add_subparsers(
        dest="orders_command", required=True
    )
    bulk = orders.add_parser(
        "import",
        help="register the orders of a CSV or XLSX file",
        description="Columns: external_id, customer_ref, purchased_at (optional, ISO 8601; "
        "no zone: CJM_TIMEZONE), segment (optional). Nothing is imported if a row is bad, "
        "unless --skip-bad. Exit 0: all created or known; 1: rows rejected; 2: file unusable.",
    )
    bulk.add_argument("file", type=Path, help="a .csv (UTF-8; , ; or tab) or .xlsx file")
    bulk.add_argument("--sheet", help="the XLSX sheet to read (default the first)")
    bulk.add_argument("--skip-bad", action="store_true", help="import the good rows anyway")
    bulk.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    bulk.add_argument(
        "--links", type=Path, metavar="OUT.csv",
        help="write the deep link of each order of the file still waiting for its customer",
    )  # fmt: skip
    bulk.set_defaults(handler=_orders_import)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of days, 1 or more: {text!r}")
    return int(text)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601 with a zone, e.g. 2026-11-23T14:05+03:00)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-23T14:05+03:00")
    return moment


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[+HH:MM]"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _waves_resend(args: argparse.Namespace) -> int:
    from bot.commands import resend_waves, unknown_waves  # noqa: PLC0415

    settings = load_settings()
    chosen = asyncio.run(unknown_waves(settings, args.since))
    if not chosen:
        print(
            "no unknown sends" + (f" since {args.since:%Y-%m-%d %H:%M} UTC" if args.since else "")
        )
        return 0
    for dispatch_id, ref, wave, when, why in chosen:
        at = f"{when:%Y-%m-%d %H:%M}" if when else "?"
        print(f"wave {dispatch_id} ({wave}) to {ref or '(forgotten)'}, unknown since {at}: {why}")
    if not args.yes:
        try:
            answer = input(f"Send these {len(chosen)} waves again? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing resent")
            return 1
    resent = asyncio.run(resend_waves(settings, [row[0] for row in chosen]))
    print(f"{resent} waves back in the outbox: `cjm run` sends them on its next drain")
    return 0


def _run(_args: argparse.Namespace) -> int:
    from bot.app import build_app, make_bot, run  # noqa: PLC0415  (keeps `cjm survey check` light)
    from bot.startup import bot_user  # noqa: PLC0415

    settings = load_settings()
    logs.configure(verbose=True, form=settings.log_format)
    settings.token()
    load_survey(settings.survey, "CJM_SURVEY")  # its problems come before anything else

    async def serve() -> None:
        # The token is checked, and Telegram reached, before migrations create a database.
        bot = make_bot(settings)
        try:
            await bot_user(bot, settings, retry=True)
        except BaseException:
            await bot.session.close()
            raise
        await run(await build_app(settings, bot=bot))

    asyncio.run(serve())
    return 0


def _survey_check(args: argparse.Namespace) -> int:
    survey = load_survey(args.file)
    questions = sum(len(w.questions) for w in survey.waves)
    print(
        f"{args.file}: ok — survey {survey.id!r}, {len(survey.stages)} stages, "
        f"{len(survey.waves)} waves, {questions} questions, locales {', '.join(survey.locales)}"
    )
    return 0


def _order_add(args: argparse.Namespace) -> int:
    from bot.commands import NotRegistered, add_order  # noqa: PLC0415

    settings = load_settings()
    try:
        print(
            asyncio.run(
                add_order(settings, args.ref, args.segment, args.external_id, args.purchased_at)
            )
        )
    except NotRegistered as error:
        print(error, file=sys.stderr)
        return error.exit_code
    return 0


def _orders_import(args: argparse.Namespace) -> int:
    from bot.commands import CommandFailed, import_orders  # noqa: PLC0415
    from bot.progress import ReportProgress  # noqa: PLC0415
    from surveys.order_file import OrderFileError  # noqa: PLC0415

    settings = load_settings()
    # Progress on stderr; the rejected rows and the counts on stdout.
    progress = ReportProgress(sys.stderr)
    try:
        summary = asyncio.run(import_orders(settings, args, progress))
    except OrderFileError as error:
        print(error, file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(error, file=sys.stderr)
        return error.exit_code
    finally:
        progress.close()
    if text := summary.text():
        print(text)
    if summary.error:
        print(summary.error, file=sys.stderr)
    return summary.exit_code


def _customer_relink(args: argparse.Namespace) -> int:
    from bot.commands import relink_customer  # noqa: PLC0415

    code, text = asyncio.run(relink_customer(load_settings(), args.ref))
    print(text, file=sys.stderr if code else sys.stdout)
    return code


def _db_upgrade(_args: argparse.Namespace) -> int:
    from bot.commands import db_upgrade  # noqa: PLC0415

    settings = load_settings()
    asyncio.run(db_upgrade(settings))
    print(f"database at head: {_safe_url(settings)}")
    return 0


def _status(_args: argparse.Namespace) -> int:
    from bot.commands import status  # noqa: PLC0415

    print(asyncio.run(status(load_settings())))
    return 0


def _themes_suggest(args: argparse.Namespace) -> int:
    from bot.commands import suggest_themes  # noqa: PLC0415

    text = asyncio.run(suggest_themes(load_settings(), args.days, args.segment))
    if not text:
        print(f"no recurring words outside the survey's themes in the last {args.days} days")
        return 0
    print(f"# Recurring words of complaints no theme covers, last {args.days} days.")
    print("# Paste the entries under `themes:` in your survey file and translate the labels.")
    print(text, end="")
    return 0


def _report(args: argparse.Namespace) -> int:
    from bot.commands import (  # noqa: PLC0415
        ReportArgsError,
        report_locale,
        report_period,
        write_report,
    )
    from bot.progress import ReportProgress  # noqa: PLC0415

    try:  # before the settings and the database: a wrong argument says only that
        report_period(args, datetime.now(UTC))
        report_locale(args)
    except ReportArgsError as error:
        print(f"cjm report: {error}", file=sys.stderr)
        return 2
    settings = load_settings()
    # Progress on stderr, the paths on stdout: `cjm report … | xargs` gets only the files.
    progress = ReportProgress(sys.stderr)
    try:
        written = asyncio.run(write_report(settings, args, progress))
    finally:
        progress.close()
    for path in written:
        print(path)
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(settings.database_url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
