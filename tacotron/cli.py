"""How every entry point reports: one `error: ...` line per problem on stderr.

A problem that loses one input (a bad label, a broken wav) is `warn`ed and the work goes on; a problem that
stops the command is `fail`ed: one line, exit code 1. Exit codes are 0 when anything was done, 1 when
nothing could be done (or the command cannot start), 2 for a usage error (absl's own).
"""
import sys


def warn(message):
    """One line `error: <message> (skipped)`: an input was skipped, the rest goes on."""
    print(f"error: {message} (skipped)", file=sys.stderr, flush=True)


def fail(message):
    """One line `error: <message>`, then exit with status 1."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
