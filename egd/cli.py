"""The `egd` command line (a contract: see DESIGN.md section 4).

Each command lives in `egd/commands/`. This module is the one place where errors users can cause become
messages and exit codes: 0 success, 1 invalid input or conflict, 2 usage (click's own), 3 cannot reach NATS.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from egd.commands.apply import apply_command, delete_command
from egd.commands.bootstrap import bootstrap_command
from egd.commands.get import get_command
from egd.commands.history import history_command
from egd.commands.serve import serve_command
from egd.commands.translate import translate_command
from egd.datadir import DaemonAlreadyRunningError
from egd.logs import quiet_asyncio_tls_noise
from events.errors import ConflictError, InvalidKeyError, StoreUnavailableError
from projections.errors import InvalidDocumentError

EXIT_INVALID = 1
EXIT_UNREACHABLE = 3


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class EgdGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (InvalidDocumentError, InvalidKeyError, ConflictError, DaemonAlreadyRunningError) as exc:
            fail(str(exc), EXIT_INVALID)
        except StoreUnavailableError as exc:
            fail(str(exc), EXIT_UNREACHABLE)
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=EgdGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """egd: an event-sourced control plane for fleets of Envoy proxies."""
    quiet_asyncio_tls_noise()


for command in (
    serve_command,
    apply_command,
    delete_command,
    get_command,
    history_command,
    bootstrap_command,
    translate_command,
):
    main.add_command(command)
