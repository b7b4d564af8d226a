"""Reading the course's label files: one line `id|hanzi|phones`, phones separated by spaces.

One reader serves preprocessing and synthesis (`read_labels`): a bad line skips only its utterance, and
every problem is a `LabelError` whose `reason` says what kind it is (REASONS) and whose message names the
file (with the line number when the file holds several lines) and the problem.

The same rules hold everywhere: an utterance id must be usable as a file name (no "/" or "\\", not "." or
".."), a final end-of-sequence "~" is dropped (the model input appends it), at least one phone must
remain, every phone must be in the inventory, and an id may appear only once.
"""
import collections
import os

from text.phones_mix import EOS
from text.phones_mix import UnknownPhoneError
from text.phones_mix import phones_to_ids

Utterance = collections.namedtuple("Utterance", ["utt_id", "text", "phones"])

EMPTY = "empty label"
MALFORMED = "malformed label"
UNKNOWN_PHONE = "unknown phone"
DUPLICATE_ID = "duplicate id"
REASONS = (EMPTY, MALFORMED, UNKNOWN_PHONE, DUPLICATE_ID)


class LabelError(ValueError):
    """A label file or line that cannot be used; the message names the file and the problem.

    Attributes:
        reason: one of REASONS ("empty label", "malformed label", "unknown phone", "duplicate id").
    """

    def __init__(self, message, reason=MALFORMED):
        super().__init__(message)
        self.reason = reason


def check_utt_id(utt_id, source):
    """Raises LabelError (MALFORMED) unless utt_id can name output files (no path separators, not . or ..)."""
    if utt_id in (".", "..") or "/" in utt_id or "\\" in utt_id or os.sep in utt_id:
        raise LabelError(f"{source}: utterance id {utt_id!r} cannot be used as a file name", MALFORMED)


def parse_label_line(line, source="<string>"):
    """Parses one course label line.

    Args:
        line: "000001|卡尔普陪外孙玩滑梯。|sil k a 2 #0 er 2 ... sil".
        source: file name used in error messages.
    Returns:
        Utterance(utt_id, text, phones) with phones a list of symbols (validated against the inventory,
        without a final "~").
    Raises:
        LabelError naming `source` and the problem (empty line, malformed line, empty or unusable id, no
        phones, unknown symbol), with its reason.
    """
    stripped = line.strip().lstrip("\ufeff")
    if not stripped:
        raise LabelError(f"{source}: empty label", EMPTY)
    fields = stripped.split("|")
    if len(fields) != 3:
        raise LabelError(f"{source}: malformed label, expected 'id|text|phones' but got {len(fields)} "
                         "field(s)", MALFORMED)
    utt_id, text, phone_field = (field.strip() for field in fields)
    if not utt_id:
        raise LabelError(f"{source}: malformed label, empty utterance id", MALFORMED)
    check_utt_id(utt_id, source)
    phones = phone_field.split()
    if phones and phones[-1] == EOS:
        phones = phones[:-1]
    if not phones:
        raise LabelError(f"{source}: utterance {utt_id} has no phones", MALFORMED)
    try:
        phones_to_ids(phones)
    except UnknownPhoneError as error:
        raise LabelError(f"{source}: unknown phone symbol {error.symbol!r} in utterance {utt_id}",
                         UNKNOWN_PHONE) from None
    return Utterance(utt_id, text, phones)


def _label_lines(path):
    """The non-empty lines of a label file as (source, line); source is the path, or path:number when
    the file holds several lines. Raises LabelError: unreadable, not UTF-8 (MALFORMED), empty (EMPTY)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not UTF-8 text", MALFORMED) from None
    except OSError as error:
        raise LabelError(f"{path}: cannot read ({error.strerror})", MALFORMED) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip().lstrip("\ufeff")]
    if not lines:
        raise LabelError(f"{path}: empty label", EMPTY)
    if len(lines) == 1:
        return [(path, lines[0][1])]
    return [(f"{path}:{number}", line) for number, line in lines]


def read_label_file(path):
    """Reads a label file holding one or more utterances (one per non-empty line).

    Raises:
        LabelError naming the file: unreadable, not UTF-8, empty, or any bad line.
    """
    return [parse_label_line(line, source=source) for source, line in _label_lines(path)]


def read_labels(paths):
    """The one label reader: every utterance of the given label files, each bad one reported and skipped.

    Args:
        paths: label file paths, read in this order.
    Returns:
        (utterances, problems): the usable Utterances in file and line order, and one LabelError per
        unusable file (unreadable, not UTF-8, empty), per bad line and per repeated id (DUPLICATE_ID, the
        later one is skipped).
    """
    utterances, problems, first_source = [], [], {}
    for path in paths:
        try:
            lines = _label_lines(path)
        except LabelError as error:
            problems.append(error)
            continue
        for source, line in lines:
            try:
                utterance = parse_label_line(line, source=source)
            except LabelError as error:
                problems.append(error)
                continue
            if utterance.utt_id in first_source:
                problems.append(LabelError(f"{source}: utterance id {utterance.utt_id} repeats one from "
                                           f"{first_source[utterance.utt_id]}", DUPLICATE_ID))
                continue
            first_source[utterance.utt_id] = source
            utterances.append(utterance)
    return utterances, problems


def list_label_files(label_dir):
    """Sorted paths of the `*.lab` files in a directory."""
    if not os.path.isdir(label_dir):
        raise LabelError(f"{label_dir}: label directory does not exist")
    names = sorted(name for name in os.listdir(label_dir) if name.endswith(".lab"))
    return [os.path.join(label_dir, name) for name in names]
