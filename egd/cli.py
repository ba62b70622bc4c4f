"""The `egd` command line (a contract: see DESIGN.md section 4).

Each command lives in `egd/commands/` and is imported only when it runs, so that `egd get` does not pay for
the xDS server's imports. This module is the one place where errors users can cause become messages and exit
codes: 0 success, 1 invalid input or conflict, 2 usage (click's own), 3 cannot reach NATS.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any, NoReturn

import click

from egd.datadir import DaemonAlreadyRunningError, UnusableDataDirError
from egd.listen import CannotListenError
from egd.logs import configure_logging
from events.errors import ConflictError, EventTooLargeError, InvalidKeyError, StoreUnavailableError
from projections.errors import InvalidDocumentError

EXIT_INVALID = 1
EXIT_UNREACHABLE = 3

COMMANDS = {
    "serve": "egd.commands.serve:serve_command",
    "apply": "egd.commands.apply:apply_command",
    "delete": "egd.commands.apply:delete_command",
    "get": "egd.commands.get:get_command",
    "history": "egd.commands.history:history_command",
    "replay": "egd.commands.replay:replay_command",
    "diff": "egd.commands.replay:diff_command",
    "revert": "egd.commands.revert:revert_command",
    "bootstrap": "egd.commands.bootstrap:bootstrap_command",
    "translate": "egd.commands.translate:translate_command",
    "ratelimit": "egd.commands.ratelimit:ratelimit_group",
}


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class EgdGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (
            InvalidDocumentError,
            InvalidKeyError,
            ConflictError,
            EventTooLargeError,
            DaemonAlreadyRunningError,
            UnusableDataDirError,
            CannotListenError,
        ) as exc:
            fail(str(exc), EXIT_INVALID)
        except StoreUnavailableError as exc:
            fail(str(exc), EXIT_UNREACHABLE)
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=EgdGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """egd: an event-sourced control plane for fleets of Envoy proxies."""
    configure_logging("warning")  # commands' output is stdout; their logs go to stderr (`serve` sets its own level)
    logging.getLogger("asyncio").addFilter(_not_tls_eof_noise)


def _not_tls_eof_noise(record: logging.LogRecord) -> bool:
    """asyncio warns on every TLS connection that nats-py closes; it says nothing a user can act on."""
    return "eof_received() has no effect when using ssl" not in record.getMessage()
