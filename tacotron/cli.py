"""How every entry point reports: one `error: ...` line per problem on stderr.

A problem that loses one input (a bad label, a broken wav) is `warn`ed and the work goes on; a problem that
stops the command is `fail`ed: one line, exit code 1. Exit codes are 0 when anything was done, 1 when
nothing could be done (or the command cannot start), 2 for a usage error (absl's own). The lines go above a
progress bar (tacotron/progress.py) without breaking it.
"""
import sys

from tacotron.progress import write_above


def warn(message):
    """One line `error: <message> (skipped)`: an input was skipped, the rest goes on."""
    write_above(f"error: {message} (skipped)", sys.stderr)


def fail(message):
    """One line `error: <message>`, then exit with status 1."""
    write_above(f"error: {message}", sys.stderr)
    sys.exit(1)
