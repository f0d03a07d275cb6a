"""What a user hands in, checked before it is read: files by kind, size and signature; counts by range.

A file is opened only once it is known to be a regular file of plausible size (a link is judged by what it
leads to), and then read with a bound, so that nothing hangs on a device, a named pipe or endless bytes. A
data file must also start like its format says: a CSV header, an ARFF ``@relation``, the HDF5 signature.
Every check raises a :class:`qaplib.errors.QapError` that names the value, the rule and the fix.
"""

from __future__ import annotations

import stat
from pathlib import Path

from qaplib.errors import InvalidSpecError, QapError

#: Largest spec, grid or parameter file: text a person writes.
MAX_TEXT_BYTES = 1 << 20
#: Largest data file (the hls4ml CSV export is about 150 MB, one Zenodo HDF5 file a few GB).
MAX_DATA_BYTES = 64 << 30
#: Most worker processes a sweep, a notebook or the generator may ask for: more than any machine or
#: cluster this runs on, and few enough that a typo (10**9) is caught.
MAX_WORKERS = 4096
#: Where runs train: ``local`` processes or a ``dask`` cluster (:func:`qaplib.sweep.run_sweep`).
EXECUTORS = ("local", "dask")
#: How much of a data file is read to recognise its format.
SIGNATURE_BYTES = 1 << 16
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def regular_file(path: str | Path, what: str, max_bytes: int, error: type[QapError] = InvalidSpecError) -> Path:
    """``path``, checked to be a regular file (or a link to one) of at most ``max_bytes``; ``what`` names it
    in the error (``"spec file"``), ``error`` is the exception raised."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"the {what} {path} does not exist; check the path") from None
    except OSError as exc:
        raise error(f"cannot read the {what} {path} ({exc.strerror or exc}); give a readable file") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"the {what} {path} is a directory, not a file; give the path of the file itself")
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
        leads = f"it leads to {kind}" if path.is_symlink() else f"it is {kind}"
        raise error(f"the {what} {path} is not a regular file ({leads}); give the path of an ordinary file")
    if info.st_size > max_bytes:
        raise error(f"the {what} {path} holds {info.st_size:,} bytes, more than the {max_bytes:,} such a file may hold; "
                    "check that it is the right file")  # fmt: skip
    return path


def read_text(path: str | Path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of a small input file (a spec, a grid, parameters), after :func:`regular_file`."""
    with open(regular_file(path, what, max_bytes), "rb") as handle:
        content = handle.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise InvalidSpecError(f"the {what} {path} grew beyond {max_bytes:,} bytes while being read; give a file at rest")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSpecError(f"the {what} {path} is not UTF-8 text; save it as UTF-8") from None


def _head_text(head: bytes) -> str | None:
    """The start of a file as text, or None when it is not UTF-8 (a character cut at the end is allowed)."""
    import codecs

    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _looks_like_csv(head: bytes) -> bool:
    text = _head_text(head)
    return text is not None and "\x00" not in text and "," in text.partition("\n")[0]


def _looks_like_arff(head: bytes) -> bool:
    text = _head_text(head)
    if text is None:
        return False
    lines = (line.strip() for line in text.splitlines())
    first = next((line for line in lines if line and not line.startswith("%")), "")
    return first.lower().startswith("@relation")


def _looks_like_hdf5(head: bytes) -> bool:
    return head.startswith(HDF5_SIGNATURE)


#: Data file suffix -> (the format, how its start must look, the test of its first bytes).
DATA_SIGNATURES = {
    ".csv": ("a CSV", "a header line of comma-separated column names, in UTF-8", _looks_like_csv),
    ".arff": ("an ARFF", "an @relation line after any % comments", _looks_like_arff),
    ".h5": ("an HDF5", "the HDF5 signature \\x89HDF", _looks_like_hdf5),
    ".hdf5": ("an HDF5", "the HDF5 signature \\x89HDF", _looks_like_hdf5),
}


def data_file(path: str | Path, error: type[QapError]) -> Path:
    """``path``, checked to be a regular data file of plausible size that starts as its suffix says
    (:data:`DATA_SIGNATURES`); a suffix not listed there is left to the caller."""
    path = regular_file(path, "data file", MAX_DATA_BYTES, error)
    if path.suffix.lower() not in DATA_SIGNATURES:
        return path
    kind, expected, looks_right = DATA_SIGNATURES[path.suffix.lower()]
    with open(path, "rb") as handle:
        head = handle.read(SIGNATURE_BYTES)
    if not looks_right(head):
        raise error(f"the data file {path} does not start like {kind} file ({expected}); "
                    "check that it is the right file and that its name ends in its format")  # fmt: skip
    return path


def is_integer(value) -> bool:
    """An ``int`` that is not a bool: JSON's ``true`` is not the count 1, nor ``6.0`` the bit width 6, though they
    compare equal."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_count(name: str, value, maximum: int = MAX_WORKERS) -> int:
    """``value`` as a count of workers or jobs: an integer in [1, ``maximum``]."""
    if not is_integer(value) or not 1 <= value <= maximum:
        raise InvalidSpecError(f"{name} must be a positive integer (at most {maximum}), got {value!r}")
    return value
