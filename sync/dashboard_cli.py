"""``leadsync dashboard hash-password``: the hash for LEADSYNC_DASHBOARD__PASSWORD_HASH."""

from __future__ import annotations

import click


@click.group()
def dashboard() -> None:
    """The web dashboard at /dashboard, served by the daemon and `leadsync serve` (README: "Dashboard")."""


@dashboard.command("hash-password")
@click.password_option("--password", prompt="Dashboard password", help="Read from a prompt when not given.")
def hash_password_command(password: str) -> None:
    """Print a scrypt hash of a password, to set as LEADSYNC_DASHBOARD__PASSWORD_HASH."""
    from sync.dashboard import hash_password

    if len(password) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="password")
    click.echo(hash_password(password))
