"""Arrays of an ``.npz`` (a zip of ``.npy`` members) from a file that may come from anyone. numpy only.

``np.load`` trusts a member's npy header: a header may claim 10^12 rows over a few bytes (allocated, or read
until the zip runs out), and a pickled member runs code when ``allow_pickle`` is on. Here a member's header is
read first (npy format 1.0 or 2.0; numpy bounds its length), and before anything is allocated:

- Python objects (pickles) are refused;
- the array it declares must be at most ``max_bytes``, and exactly what the member holds after the header.

Every problem is an ``NpyError`` naming ``source`` (the file) and the array; callers turn it into their own error
type (``ConfigError`` for pose files, ``DatasetError`` for frame datasets). Errors of the zip itself
(``zipfile.BadZipFile``, a CRC failure while reading the data, ``OSError``) are the caller's to name.
"""
from __future__ import annotations

import zipfile

import numpy as np

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class NpyError(ValueError):
    """An npz member rigbot will not load; the message names the file and the array."""


def member_header(z: zipfile.ZipFile, name: str, max_bytes: int, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of array ``name`` (member ``name.npy``) of ``z``, from its header alone, after the checks
    of the module docstring."""
    info = _member(z, name, source)
    with z.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                raise NpyError(f"{source}: {name} is in npy format version {version[0]}.{version[1]}; rigbot "
                               "reads 1.0 and 2.0")
            shape, _, dtype = read_header(f)
        except NpyError:
            raise
        except (ValueError, EOFError) as e:  # not npy magic, a header that is not a dict literal, cut short
            raise NpyError(f"{source}: {name} is not an npy array ({' '.join(str(e).split())[:200]})") from None
        header_bytes = f.tell()
    if dtype.hasobject:
        raise NpyError(f"{source}: {name} holds Python objects (a pickle); rigbot loads only plain arrays")
    size = dtype.itemsize
    for d in shape:
        size *= d  # Python ints: no overflow, however large the claim
    if size > max_bytes:
        raise NpyError(f"{source}: {name} declares shape {shape} of {dtype}, {size} bytes, more than the "
                       f"{max_bytes} rigbot loads from one array of such a file")
    if info.file_size != header_bytes + size:
        raise NpyError(f"{source}: {name} declares shape {shape} of {dtype} ({size} bytes) but its file holds "
                       f"{info.file_size - header_bytes} bytes")
    return tuple(shape), dtype


def read_npz_member(z: zipfile.ZipFile, name: str, max_bytes: int, source: str) -> np.ndarray:
    """Array ``name`` of ``z``, loaded only after ``member_header``'s checks (and never with pickles)."""
    member_header(z, name, max_bytes, source)
    with z.open(_member(z, name, source)) as f:
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, EOFError) as e:  # the data ends early after all
            raise NpyError(f"{source}: {name}: unreadable array data ({' '.join(str(e).split())[:200]})") from None


def _member(z: zipfile.ZipFile, name: str, source: str) -> zipfile.ZipInfo:
    try:
        return z.getinfo(f"{name}.npy")
    except KeyError:
        names = ", ".join(n.removesuffix(".npy") for n in z.namelist()[:10])
        raise NpyError(f"{source}: no {name} array (it holds: {names or 'nothing'})") from None
