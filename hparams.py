"""Hyper-parameters: typed, documented defaults (the course's hparams.yaml), presets, YAML and overrides.

Loaded once at an entry point (`load_hparams`) and passed down as one `HParams` object; modules below the
entry points take plain arguments. Precedence: defaults < preset < YAML config < `--hparams` overrides.

The YAML may be flat (`batch_size: 48`) or sectioned like the course's file (`Models: {batch_size: 48}`,
`Features: {...}`, `Griffin_Lim: {...}`): any mapping whose key is not a known hparam is read as a section.
The course's own hparams.yaml loads verbatim: its keys that pick course classes (`preprocess_type`,
`acoustic_type`, `synthesizer_type`, `supported_*`) are checked against the one value this port supports,
`num_freq` and `fft_size` must agree with `n_fft`, and `power` is the course's name of `griffin_lim_power`.
"""
import ast
import difflib
import math

import yaml

from datasets import fileio
from hparams_defaults import DEFINITIONS
from hparams_defaults import NON_NEGATIVE
from hparams_defaults import POSITIVE
from hparams_defaults import POSITIVE_LISTS
from hparams_defaults import PRESET_SMALL
from hparams_defaults import RATES
from modules.attention_names import ATTENTION_TYPES
from modules.attention_names import GMM_VERSIONS
from modules.attention_names import INFERENCE_PRECISIONS

PRESETS = ("course", "small")

# Keys of the course's hparams.yaml that select one of the course's classes: accepted when they name the
# one this port implements (the `supported_*` lists are accepted as they are).
_COURSE_CHOICES = {"preprocess_type": "BasicProcessor", "acoustic_type": "Mel",
                   "synthesizer_type": "TacotronSynthesizer"}
_COURSE_LISTS = ("supported_preprocess_type", "supported_acoustic_type")
# Course keys that repeat a value derived from n_fft: accepted when they agree with it.
_DERIVED_FROM_N_FFT = {"num_freq": lambda n_fft: n_fft // 2 + 1, "fft_size": lambda n_fft: n_fft}
# Course names of our hparams.
_ALIASES = {"power": "griffin_lim_power"}

class HParamsError(ValueError):
    """An unknown hyper-parameter name or an invalid value; the message names the key."""


class HParams:
    """Attribute access to the hyper-parameter values (`hp.batch_size`), with their documentation."""

    def __init__(self, values):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(_unknown_message(name))

    def __setattr__(self, name, value):
        raise AttributeError("HParams is read-only; use replace(name=value)")

    def replace(self, **changes):
        """A validated copy with some values changed."""
        values = dict(self._values)
        for name, value in changes.items():
            _check_known(name)
            values[name] = _coerce(name, value, _DEFAULTS[name])
        return validate(HParams(values))

    def values(self):
        """A plain dict copy of all values."""
        return dict(self._values)

    def to_yaml(self):
        """The values as flat YAML, each key preceded by its documentation."""
        lines = ["# Effective hyper-parameters (load with --config)."]
        for name, _, doc in DEFINITIONS:
            lines.append(f"# {doc}")
            lines.append(yaml.safe_dump({name: self._values[name]}, default_flow_style=True,
                                        allow_unicode=True).strip().strip("{}"))
        return "\n".join(lines) + "\n"

    def save(self, path):
        """Atomically writes the values as YAML to `path`."""
        fileio.write_text(path, self.to_yaml())

    def __repr__(self):
        return f"HParams({self._values!r})"


_DEFAULTS = {name: default for name, default, _ in DEFINITIONS}
DOCS = {name: doc for name, _, doc in DEFINITIONS}


def _unknown_message(name):
    close = difflib.get_close_matches(name, list(_DEFAULTS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown hparam {name!r}{hint}"


def _check_known(name):
    if name not in _DEFAULTS:
        raise HParamsError(_unknown_message(name))


def _parse_scalar_text(text):
    """Turns override text into a Python value: YAML scalars and flow lists (true, 1e-3, [256, 256])."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            return value
    return value


def _coerce(name, value, default):
    """Converts `value` to the type of `default`; raises HParamsError naming `name` when it cannot."""
    if isinstance(value, str) and not isinstance(default, str):
        value = _parse_scalar_text(value)
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            raise ValueError("expected true or false")
        if isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise ValueError("expected an integer")
            return int(value)
        if isinstance(default, float):
            if isinstance(value, str):
                value = _parse_scalar_text(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("expected a number")
            return float(value)
        if isinstance(default, list):
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, str):
                value = ast.literal_eval(value)
            if not isinstance(value, list):
                raise ValueError("expected a list like [256, 256]")
            element = default[0] if default else value[0] if value else 0
            return [_coerce(name, item, element) for item in value]
        if isinstance(default, str):
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError("expected a string")
            return str(value)
    except (ValueError, SyntaxError) as error:
        raise HParamsError(f"hparam {name!r}: invalid value {value!r} ({error})") from None
    raise HParamsError(f"hparam {name!r}: unsupported type")


def validate(hparams):
    """Checks ranges and choices; returns the same object or raises HParamsError naming the key."""
    values = hparams.values()
    for name in POSITIVE:
        if not values[name] > 0 or (isinstance(values[name], float) and math.isinf(values[name])):
            raise HParamsError(f"hparam {name!r}: must be > 0, got {values[name]!r}")
    for name in NON_NEGATIVE:
        if values[name] < 0:
            raise HParamsError(f"hparam {name!r}: must be >= 0, got {values[name]!r}")
    for name in RATES:
        if not 0.0 <= values[name] < 1.0:
            raise HParamsError(f"hparam {name!r}: must be in [0, 1), got {values[name]!r}")
    for name in POSITIVE_LISTS:
        if not values[name] or any(unit <= 0 for unit in values[name]):
            raise HParamsError(f"hparam {name!r}: must be a non-empty list of positive sizes, "
                               f"got {values[name]!r}")
    if values["attention_type"] not in ATTENTION_TYPES:
        raise HParamsError(f"hparam 'attention_type': unknown attention type {values['attention_type']!r}; "
                           f"choose one of {', '.join(ATTENTION_TYPES)}")
    if values["inference_precision"] not in INFERENCE_PRECISIONS:
        raise HParamsError(f"hparam 'inference_precision': unknown precision {values['inference_precision']!r}; "
                           f"choose one of {', '.join(INFERENCE_PRECISIONS)}")
    if values["gmm_version"] not in GMM_VERSIONS:
        raise HParamsError(f"hparam 'gmm_version': unknown version {values['gmm_version']!r}; "
                           f"choose one of {', '.join(GMM_VERSIONS)}")
    window = values["attention_window"]
    if window and (len(window) != 2 or any(not isinstance(v, int) or v < 0 for v in window)):
        raise HParamsError(f"hparam 'attention_window': must be [] or [back, ahead] of non-negative integers, "
                           f"got {window!r}")
    if window and values["attention_type"] == "gmm":
        raise HParamsError("hparam 'attention_window': applies to bahdanau, location_sensitive and dca "
                           "attention; GMM attention moves forward by itself (set it to [])")
    if values["end_lr"] > values["start_lr"]:
        raise HParamsError("hparam 'end_lr': must not exceed start_lr")
    if values["min_db"] >= 0 or values["min_level_db"] >= 0:
        raise HParamsError("hparam 'min_db' and 'min_level_db': must be negative dB values")
    if values["win_size"] > values["n_fft"]:
        raise HParamsError("hparam 'win_size': must not exceed n_fft")
    if values["fmax"] > values["sample_rate"] / 2 or values["fmax"] <= values["fmin"]:
        raise HParamsError("hparam 'fmax': must be above fmin and at most sample_rate / 2")
    return hparams


def parse_overrides(text):
    """Splits "a=1,prenet_units=[256,256],flag=true" into {name: raw text} (commas inside [] are kept)."""
    pairs = {}
    depth = 0
    current = ""
    parts = []
    for char in text or "":
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for part in parts:
        if not part.strip():
            continue
        if "=" not in part:
            raise HParamsError(f"hparams override {part.strip()!r}: expected name=value")
        name, raw = part.split("=", 1)
        pairs[name.strip()] = raw.strip()
    return pairs


def _is_key(name):
    return (name in _DEFAULTS or name in _COURSE_CHOICES or name in _COURSE_LISTS
            or name in _DERIVED_FROM_N_FFT or name in _ALIASES)


def flatten_yaml(data, source="<yaml>"):
    """Flattens a course-style sectioned mapping into {name: value}; raises on unknown names.

    Course-only keys (see the module docstring) are kept in the result; `resolve_course_keys` checks them.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HParamsError(f"{source}: expected a mapping of hparams")
    flat = {}
    for key, value in data.items():
        if _is_key(key):
            flat[key] = value
        elif isinstance(value, dict):
            flat.update(flatten_yaml(value, source))
        else:
            raise HParamsError(f"{source}: {_unknown_message(key)}")
    return flat


def resolve_course_keys(flat, source):
    """Splits {name: value} into (our hparams, checks of n_fft-derived course keys).

    Renames course aliases (`power`) to our names, checks the class-choosing keys against the one value
    we support and returns {course key: value} of `num_freq` / `fft_size` for `check_derived`.
    Raises HParamsError naming `source` and the key.
    """
    ours, derived = {}, {}
    for name, value in flat.items():
        if name in _COURSE_CHOICES:
            if str(value) != _COURSE_CHOICES[name]:
                raise HParamsError(f"{source}: hparam {name!r}: only {_COURSE_CHOICES[name]!r} is supported, "
                                   f"got {value!r}")
        elif name in _COURSE_LISTS:
            if not isinstance(value, (list, str)):
                raise HParamsError(f"{source}: hparam {name!r}: expected a list of names, got {value!r}")
        elif name in _DERIVED_FROM_N_FFT:
            derived[name] = _coerce(name, value, 0)
        else:
            target = _ALIASES.get(name, name)
            if target != name and target in flat and flat[target] != value:
                raise HParamsError(f"{source}: hparams {name!r} and {target!r} are the same setting "
                                   f"but differ ({value!r} vs {flat[target]!r})")
            ours[target] = value
    return ours, derived


def check_derived(derived, values, source):
    """Raises HParamsError unless each course key of `derived` agrees with n_fft in `values`."""
    for name, value in derived.items():
        expected = _DERIVED_FROM_N_FFT[name](values["n_fft"])
        if value != expected:
            raise HParamsError(f"{source}: hparam {name!r} is {value} but n_fft {values['n_fft']} "
                               f"implies {expected}")


def load_hparams(config_path=None, overrides="", preset="course"):
    """The one way to build hparams at an entry point.

    Args:
        config_path: optional YAML file (flat or course-sectioned).
        overrides: "--hparams" text, e.g. "batch_size=16,decoder_prenet_units=[128,128]".
        preset: "course" (the course's defaults) or "small" (CPU-sized model for tests and the demo).
    Returns:
        A validated HParams.
    Raises:
        HParamsError naming the file or key.
    """
    if preset not in PRESETS:
        raise HParamsError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(_DEFAULTS)
    if preset == "small":
        values.update(PRESET_SMALL)
    checks = []
    if config_path:
        try:
            with open(config_path, "r", encoding="utf-8") as handle:
                data = yaml.safe_load(handle)
        except OSError as error:
            raise HParamsError(f"{config_path}: cannot read ({error.strerror})") from None
        except UnicodeDecodeError:
            raise HParamsError(f"{config_path}: not UTF-8 text") from None
        except yaml.YAMLError as error:
            raise HParamsError(f"{config_path}: invalid YAML ({str(error).splitlines()[0]})") from None
        ours, derived = resolve_course_keys(flatten_yaml(data, config_path), config_path)
        for name, value in ours.items():
            try:
                values[name] = _coerce(name, value, _DEFAULTS[name])
            except HParamsError as error:
                raise HParamsError(f"{config_path}: {error}") from None
        checks.append((derived, config_path))
    overridden = parse_overrides(overrides)
    for name in overridden:
        if not _is_key(name):
            raise HParamsError(_unknown_message(name))
    ours, derived = resolve_course_keys(overridden, "--hparams")
    for name, raw in ours.items():
        values[name] = _coerce(name, raw, _DEFAULTS[name])
    checks.append((derived, "--hparams"))
    for derived, source in checks:
        check_derived(derived, values, source)
    return validate(HParams(values))


def default_hparams():
    """The course defaults, validated."""
    return load_hparams()
