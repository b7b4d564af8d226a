"""Progress of a long loop (training steps, utterances) that reads well on a terminal and in a log file.

On a terminal: a tqdm bar (done / total, rate, time left, e.g. the loss). Elsewhere (CI, `> log`): one plain
line every `interval` seconds and one at the end, so a 4,000-step run writes a few dozen lines, not
thousands. Lines that must not break the bar (summaries, warnings) go through `write`.
"""
import sys
import time

from tqdm import tqdm


def format_seconds(seconds):
    """3725 -> "1:02:05", 65 -> "1:05"."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def write_above(message, stream):
    """Prints one line to `stream` above any progress bar on the terminal (a plain print when there is none)."""
    with tqdm.external_write_mode(file=stream):
        print(message, file=stream, flush=True)


class Progress:
    """Args:
        total: the count that ends the loop; initial: where it starts (a resumed run).
        description, unit: "train", "step".
        stream: where to write (default stderr); interactive: force the bar on or off (default: is a tty).
        interval: seconds between plain lines when not interactive.
    """

    def __init__(self, total, description, unit, initial=0, stream=None, interactive=None, interval=30.0):
        self.stream = stream or sys.stderr
        self.total, self.done, self.initial = total, initial, initial
        self.description, self.unit, self.interval = description, unit, interval
        self.start = time.monotonic()
        self.last_line = self.start
        if interactive is None:
            interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = (tqdm(total=total, initial=initial, desc=description, unit=unit, file=self.stream,
                         dynamic_ncols=True) if interactive else None)
        self.postfix = {}

    def seconds_left(self):
        """Estimated from the mean rate since start (inf before the first update)."""
        elapsed, progressed = time.monotonic() - self.start, self.done - self.initial
        return float("inf") if progressed <= 0 else elapsed / progressed * (self.total - self.done)

    def line(self):
        """One plain progress line: "train 120/4000 (3%)  loss 0.51  12 s, ~6:40 left"."""
        percent = 100.0 * self.done / self.total if self.total else 100.0
        fields = "  ".join(f"{name} {value}" for name, value in self.postfix.items())
        left = self.seconds_left()
        left_text = "" if left == float("inf") else f", ~{format_seconds(left)} left"
        return (f"{self.description} {self.done}/{self.total} {self.unit}s ({percent:.0f}%)"
                f"{'  ' + fields if fields else ''}  {format_seconds(time.monotonic() - self.start)}{left_text}")

    def update(self, done, **postfix):
        """Moves to `done` (absolute), showing `postfix` (already formatted values) beside the count."""
        self.postfix = postfix
        if self.bar is not None:
            self.bar.update(done - self.done)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)
        self.done = done
        now = time.monotonic()
        if self.bar is None and now - self.last_line >= self.interval:
            self.last_line = now
            print(self.line(), file=self.stream, flush=True)

    def write(self, message):
        """A line of its own (the bar is redrawn below it)."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.done != self.initial:
            print(self.line(), file=self.stream, flush=True)
