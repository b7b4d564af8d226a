"""Reading the course's label files: one line `id|hanzi|phones`, phones separated by spaces."""
import collections
import os

from datasets.symbols import UnknownPhoneError
from datasets.symbols import phones_to_ids

Utterance = collections.namedtuple("Utterance", ["utt_id", "text", "phones"])


class LabelError(ValueError):
    """A label file or line that cannot be used; the message names the file and the problem."""


def parse_label_line(line, source="<string>"):
    """Parses one course label line.

    Args:
        line: "000001|卡尔普陪外孙玩滑梯。|sil k a 2 #0 er 2 ... sil".
        source: file name used in error messages.
    Returns:
        Utterance(utt_id, text, phones) with phones a list of symbols (validated against the inventory).
    Raises:
        LabelError naming `source` and the problem (malformed line, empty id or phones, unknown symbol).
    """
    stripped = line.strip().lstrip("\ufeff")
    if not stripped:
        raise LabelError(f"{source}: empty label")
    fields = stripped.split("|")
    if len(fields) != 3:
        raise LabelError(f"{source}: malformed label, expected 'id|text|phones' but got {len(fields)} field(s)")
    utt_id, text, phone_field = (field.strip() for field in fields)
    if not utt_id:
        raise LabelError(f"{source}: malformed label, empty utterance id")
    phones = phone_field.split()
    if not phones:
        raise LabelError(f"{source}: utterance {utt_id} has no phones")
    try:
        phones_to_ids(phones)
    except UnknownPhoneError as error:
        raise LabelError(f"{source}: unknown phone symbol {error.symbol!r} in utterance {utt_id}") from None
    return Utterance(utt_id, text, phones)


def read_label_file(path):
    """Reads a label file holding one or more utterances (one per non-empty line).

    Raises:
        LabelError naming the file: unreadable, not UTF-8, empty, or any bad line.
    """
    try:
        with open(path, "r", encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise LabelError(f"{path}: cannot read ({error.strerror})") from None
    if not lines:
        raise LabelError(f"{path}: empty label")
    return [parse_label_line(line, source=path) for line in lines]


def list_label_files(label_dir):
    """Sorted paths of the `*.lab` files in a directory."""
    if not os.path.isdir(label_dir):
        raise LabelError(f"{label_dir}: label directory does not exist")
    names = sorted(name for name in os.listdir(label_dir) if name.endswith(".lab"))
    return [os.path.join(label_dir, name) for name in names]
