"""Content digests of rows, vectorised: 128 bits per row from the Arrow buffers, with numpy only.

This is the *encoding v2* of the row fingerprints (`engine.fingerprint` keeps v1, the per-row MD5
of an identity, for rows loaded before). It is a contract: a stored digest is compared with one
computed from the same values years later, so the function defined here never changes in place;
a different function would be encoding v3.

    row_digests(batch, columns) -> np.ndarray   # dtype S16, one 16-byte digest per row
    to_hex(digests, prefix="")  -> pa.StringArray   # "<prefix><32 hex digits>"
    from_hex(strings)           -> np.ndarray   # S16, the inverse (after the prefix)

The definition, on little-endian 64-bit words (`mix` is MurmurHash3's 64-bit finaliser `fmix64`;
all arithmetic modulo 2**64; constants below):

- each value of column i (its position in `columns`) becomes words w_0..w_{m-1}:
  INT64, TIMESTAMP/DATETIME/TIME (microseconds), DATE (days, sign-extended), BOOL (0/1) and every
  other integer-backed type: one word, its integer; FLOAT64: its IEEE bits, every NaN as
  0x7ff8000000000000 (-0.0 and 0.0 differ); NUMERIC (decimal128): 2 words, BIGNUMERIC
  (decimal256): 4 words, low word first; STRING, JSON (its text), GEOGRAPHY (its text), BYTES:
  the bytes, zero-padded to whole words, with their byte length `len`.
- per word: u_j = mix(w_j XOR (SW_i + j*P2)).
- a value of a one-word type: a_i = u_0, b_i = u_0 * KC_i. Any other value: A = sum u_j,
  B = sum u_j * K_j; a_i = mix((A + len*P3) XOR SA_i), b_i = mix((B + len*P4) XOR SB_i), with
  len = the byte length for text and bytes, the word count otherwise. NULL: a_i = NA_i,
  b_i = NB_i (chosen so a NULL differs from every value in at least one lane).
- the row: H_a = mix(sum_i a_i), H_b = mix(sum_i b_i); the digest is H_a then H_b, 8 bytes
  each, little-endian.
with SW_i, SA_i, SB_i, NA_i = mix(seed + i*P1) for their own seeds, KC_i and K_j odd.

Why this shape: every step is one numpy operation over a whole column (no per-row Python), each
value is mixed with its column's own seeds (so values never trade places between columns
unnoticed) and each word with its position's seed (so words never trade places inside a value).
Text is hashed in "slots": rows sorted once by word count, slot j reads the j-th word of every
row that has one with a single unaligned gather; values past 32 words (long JSON, long text)
finish with one gather over their remaining words. Identical inputs give identical digests on
every run and machine (the module refuses big-endian machines); 128 bits make an accidental
collision negligible (about 2**-128 per pair). It is not a cryptographic hash: a deliberately
built collision is possible, as it already was with MD5.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if sys.byteorder != "little":  # the encoding is defined on little-endian words
    raise ImportError("etl_bigquery.engine.rowhash needs a little-endian machine")

ENCODING = 2
DIGEST_BYTES = 16

_M = (1 << 64) - 1
_C1, _C2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53  # fmix64
_P1 = 0x9E3779B97F4A7C15  # per column
_P2 = 0xBF58476D1CE4E5B9  # per word position
_P3 = 0x94D049BB133111EB  # length, lane a
_P4 = 0x2545F4914F6CDD1D  # length, lane b
_P7 = 0xD6E8FEB86659FD93  # word multipliers K_j
_SEED_W, _SEED_A, _SEED_B = 0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0
_SEED_NULL, _SEED_KC = 0x082EFA98EC4E6C89, 0x452821E638D01377
_K_BASE = 0xBE5466CF34E90C6D  # odd
_NAN_BITS = 0x7FF8000000000000
_SLOTS = 32  # words read slot by slot; longer values finish with one gather
_U64 = np.dtype("<u8")


def _mix_int(x: int) -> int:
    """fmix64 on a Python int (for the constants)."""
    x &= _M
    x ^= x >> 33
    x = (x * _C1) & _M
    x ^= x >> 33
    x = (x * _C2) & _M
    return x ^ (x >> 33)


def _mix(x: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """fmix64 of a uint64 array, in place (numpy wraps uint64 products modulo 2**64)."""
    if tmp is None or len(tmp) < len(x):
        tmp = np.empty_like(x)
    tmp = tmp[: len(x)]
    np.right_shift(x, np.uint64(33), out=tmp)
    x ^= tmp
    x *= np.uint64(_C1)
    np.right_shift(x, np.uint64(33), out=tmp)
    x ^= tmp
    x *= np.uint64(_C2)
    np.right_shift(x, np.uint64(33), out=tmp)
    x ^= tmp
    return x


class _Seeds:
    """The constants of column position i."""

    def __init__(self, i: int) -> None:
        self.word = _mix_int(_SEED_W + i * _P1)
        self.a = _mix_int(_SEED_A + i * _P1)
        self.b = _mix_int(_SEED_B + i * _P1)
        self.kc = _mix_int(_SEED_KC + i * _P1) | 1
        self.null_a = _mix_int(_SEED_NULL + i * _P1)
        # NULL differs from every one-word value in lane b (a value whose lane a equals NA_i has
        # lane b = NA_i * KC_i), and from other values with probability 1 - 2**-128.
        null_b = _mix_int(_SEED_NULL ^ _SEED_B ^ (i * _P1))
        if null_b == (self.null_a * self.kc) & _M:
            null_b ^= 1
        self.null_b = null_b

    def word_seed(self, j: int | np.ndarray) -> int | np.ndarray:
        if isinstance(j, np.ndarray):
            return np.uint64(self.word) + j.astype(np.uint64) * np.uint64(_P2)
        return (self.word + j * _P2) & _M


def _word_multiplier(j: int | np.ndarray) -> int | np.ndarray:
    if isinstance(j, np.ndarray):
        return np.uint64(_K_BASE) + j.astype(np.uint64) * np.uint64((2 * _P7) & _M)
    return (_K_BASE + 2 * j * _P7) & _M


_SEEDS: list[_Seeds] = []


def _seeds(i: int) -> _Seeds:
    while len(_SEEDS) <= i:
        _SEEDS.append(_Seeds(len(_SEEDS)))
    return _SEEDS[i]


# -- columns to words --------------------------------------------------------------------------


def _plain(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if isinstance(array.type, pa.BaseExtensionType):  # JSON: its text
        array = array.storage
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def _valid(array: pa.Array) -> np.ndarray | None:
    """Validity as a numpy bool array, or None when there is no NULL."""
    if array.null_count == 0:
        return None
    if pa.types.is_null(array.type):
        return np.zeros(len(array), dtype=bool)
    return np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)


def _fixed_words(array: pa.Array) -> np.ndarray | None:
    """(n, m) little-endian words of a fixed-width column, or None for variable-width types."""
    kind = array.type
    n = len(array)
    if pa.types.is_null(kind):
        return np.zeros((n, 1), dtype=_U64)
    if pa.types.is_boolean(kind):
        bits = pc.fill_null(array, False).to_numpy(zero_copy_only=False)
        return np.asarray(bits, dtype=np.uint64).reshape(n, 1)
    if pa.types.is_decimal(kind):
        width = kind.byte_width // 8
        raw = np.frombuffer(array.buffers()[1], dtype=_U64, count=(array.offset + n) * width)
        return raw[array.offset * width :].reshape(n, width)
    if pa.types.is_floating(kind):
        values = array.to_numpy(zero_copy_only=False) if array.null_count else array.to_numpy()
        values = np.asarray(values, dtype=np.float64)  # float16/32 widen exactly
        bits = values.view(_U64).copy()
        bits[np.isnan(values)] = np.uint64(_NAN_BITS)
        return bits.reshape(n, 1)
    if pa.types.is_integer(kind) or (pa.types.is_temporal(kind) and not pa.types.is_interval(kind)):
        width = kind.bit_width // 8
        signed = not pa.types.is_unsigned_integer(kind)
        dtype = np.dtype(f"<{'i' if signed else 'u'}{width}")
        raw = np.frombuffer(array.buffers()[1], dtype=dtype, count=array.offset + n)
        return (
            raw[array.offset :].astype(np.int64 if signed else np.uint64).view(_U64).reshape(n, 1)
        )
    return None


def _binary_parts(array: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(padded bytes, start of each value in them, byte length of each value)."""
    kind = array.type
    n = len(array)
    if pa.types.is_fixed_size_binary(kind):
        width = kind.byte_width
        data = np.frombuffer(array.buffers()[1], dtype=np.uint8)
        low = array.offset * width
        high = low + n * width
        starts = np.arange(0, n * width, width, dtype=np.int64)
        lengths = np.full(n, width, dtype=np.int64)
    else:
        offset_type: Any  # np.int32 or np.int64, by the Arrow offset width
        if pa.types.is_string(kind) or pa.types.is_binary(kind):
            offset_type = np.int32
        elif pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
            offset_type = np.int64
        else:
            raise TypeError(f"row digests do not support Arrow type {kind}")
        offsets = np.frombuffer(array.buffers()[1], dtype=offset_type, count=array.offset + n + 1)
        offsets = offsets[array.offset :].astype(np.int64)
        buffer = array.buffers()[2]
        data = (
            np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.empty(0, np.uint8)
        )
        low, high = int(offsets[0]), int(offsets[-1])  # Arrow offsets never decrease
        starts = offsets[:-1] - low
        lengths = offsets[1:] - offsets[:-1]
    # A copy of the bytes the values use, padded so an 8-byte read at any value start is safe.
    padded = np.zeros(high - low + 8, dtype=np.uint8)
    padded[: high - low] = data[low:high]
    return padded, starts, lengths


def _unaligned_words(padded: np.ndarray) -> np.ndarray:
    """A view whose element k is the little-endian 8-byte word starting at byte k."""
    return np.ndarray(shape=(len(padded) - 7,), dtype=_U64, buffer=padded, strides=(1,))


# Mask of the first r bytes of a word, r = 0..8 (the zero-padding past a value's end).
_BYTE_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [_M], dtype=_U64)


def _variable_lanes(array: pa.Array, seeds: _Seeds) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of a text or bytes column (NULLs still to be set by the caller). Slot j reads the
    j-th word of every value that has one; the rows of slot j shrink from those of slot j-1."""
    n = len(array)
    padded, starts, lengths = _binary_parts(array)
    valid = _valid(array)
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    words = _unaligned_words(padded)
    lane_a = np.zeros(n, dtype=_U64)
    lane_b = np.zeros(n, dtype=_U64)
    tmp = np.empty(n, dtype=_U64)
    rows: np.ndarray | None = None  # None: every row
    row_starts, row_lengths = starts, lengths
    for j in range(_SLOTS):
        more = row_lengths > 8 * j
        if not more.all():
            rows = np.flatnonzero(more) if rows is None else rows[more]
            row_starts, row_lengths = row_starts[more], row_lengths[more]
        if not len(row_lengths):
            break
        word = words[row_starts + 8 * j]
        word &= _BYTE_MASKS[np.minimum(row_lengths - 8 * j, 8)]
        word ^= np.uint64(seeds.word_seed(j))
        _mix(word, tmp)
        if rows is None:
            lane_a += word
            word *= np.uint64(_word_multiplier(j))
            lane_b += word
        else:
            lane_a[rows] += word
            word *= np.uint64(_word_multiplier(j))
            lane_b[rows] += word
    else:
        longer = row_lengths > 8 * _SLOTS
        if longer.any():
            long_rows = np.arange(n) if rows is None else rows
            long_rows = long_rows[longer]
            _long_tail(
                words, row_starts[longer], row_lengths[longer], seeds,
                lane_a, lane_b, long_rows,
            )  # fmt: skip
    size = lengths.astype(np.uint64)
    size *= np.uint64(_P3)
    lane_a += size
    lane_a ^= np.uint64(seeds.a)
    _mix(lane_a, tmp)
    size = lengths.astype(np.uint64)
    size *= np.uint64(_P4)
    lane_b += size
    lane_b ^= np.uint64(seeds.b)
    _mix(lane_b, tmp)
    return lane_a, lane_b


def _long_tail(
    words: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    seeds: _Seeds,
    lane_a: np.ndarray,
    lane_b: np.ndarray,
    rows: np.ndarray,
) -> None:
    """Words 32.. of the values longer than 32 words, in one gather."""
    extra = (lengths + 7) // 8 - _SLOTS
    total = int(extra.sum())
    firsts = np.cumsum(extra) - extra
    owner = np.repeat(np.arange(len(rows)), extra)
    position = np.arange(total, dtype=np.int64) - firsts[owner] + _SLOTS  # j of each word
    word = words[starts[owner] + 8 * position]
    word &= _BYTE_MASKS[np.minimum(lengths[owner] - 8 * position, 8)]
    word ^= seeds.word_seed(position)
    _mix(word)
    lane_a[rows] += np.add.reduceat(word, firsts)
    word *= _word_multiplier(position)
    lane_b[rows] += np.add.reduceat(word, firsts)


def _fixed_lanes(words: np.ndarray, seeds: _Seeds) -> tuple[np.ndarray, np.ndarray]:
    n, width = words.shape
    tmp = np.empty(n, dtype=_U64)
    if width == 1:
        a = words[:, 0] ^ np.uint64(seeds.word)
        _mix(a, tmp)
        b = a * np.uint64(seeds.kc)
        return a, b
    lane_a = np.zeros(n, dtype=_U64)
    lane_b = np.zeros(n, dtype=_U64)
    for j in range(width):
        word = words[:, j] ^ np.uint64(seeds.word_seed(j))
        _mix(word, tmp)
        lane_a += word
        word *= np.uint64(_word_multiplier(j))
        lane_b += word
    lane_a += np.uint64((width * _P3) & _M)
    lane_a ^= np.uint64(seeds.a)
    _mix(lane_a, tmp)
    lane_b += np.uint64((width * _P4) & _M)
    lane_b ^= np.uint64(seeds.b)
    _mix(lane_b, tmp)
    return lane_a, lane_b


def column_lanes(array: pa.Array, position: int) -> tuple[np.ndarray, np.ndarray]:
    """The two 64-bit lanes (a_i, b_i) of every value of one column at `position`."""
    array = _plain(array)
    seeds = _seeds(position)
    words = _fixed_words(array)
    if words is not None:
        a, b = _fixed_lanes(words, seeds)
    else:
        a, b = _variable_lanes(array, seeds)
    valid = _valid(array)
    if valid is not None:
        a[~valid] = np.uint64(seeds.null_a)
        b[~valid] = np.uint64(seeds.null_b)
    return a, b


def row_digests(
    batch: pa.RecordBatch | pa.Table, columns: list[str] | tuple[str, ...]
) -> np.ndarray:
    """The 16-byte content digest of every row over `columns` (in that order), as numpy `S16`.

    The same values in the same column order give the same digest on every run; the values are
    the Arrow values as given (callers hash conformed batches, so the type is the table's)."""
    n = batch.num_rows
    if n == 0:
        return np.empty(0, dtype="S16")
    total_a = np.zeros(n, dtype=_U64)
    total_b = np.zeros(n, dtype=_U64)
    for position, name in enumerate(columns):
        a, b = column_lanes(batch.column(name), position)
        total_a += a
        total_b += b
    tmp = np.empty(n, dtype=_U64)
    out = np.empty((n, 2), dtype=_U64)
    out[:, 0] = _mix(total_a, tmp)
    out[:, 1] = _mix(total_b, tmp)
    return out.view("S16").reshape(n)


# -- hex ---------------------------------------------------------------------------------------

_HEX_PAIRS = np.frombuffer(
    b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16
)  # byte -> its two hex digits, as one uint16 (little-endian: first digit first)
_INDEX = np.arange(65536, dtype=np.uint32)
# Two bytes (as one little-endian uint16) -> their four hex digits as one uint32: half the
# lookups of a byte table, and the table (256 kB) stays in cache.
_HEX_QUADS = _HEX_PAIRS[_INDEX & 255].astype(np.uint32) | (
    _HEX_PAIRS[_INDEX >> 8].astype(np.uint32) << np.uint32(16)
)
_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i


def to_hex(digests: np.ndarray, prefix: str = "") -> pa.Array:
    """`S16` digests → Arrow strings `<prefix><32 lower-case hex digits>`, vectorised."""
    n = len(digests)
    head = prefix.encode()
    width = len(head) + 32
    pairs = np.ascontiguousarray(digests).view(np.uint16).reshape(n, 8)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    out[:, len(head) :] = _HEX_QUADS[pairs].view(np.uint8).reshape(n, 32)
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def from_hex(values: pa.Array | pa.ChunkedArray | list[str]) -> np.ndarray:
    """The last 32 hex digits of each string → `S16` (the inverse of `to_hex`). Raises
    ValueError on a value that is not hex or shorter than 32 characters."""
    if isinstance(values, list):
        values = pa.array(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    if n == 0:
        return np.empty(0, dtype="S16")
    if values.null_count:
        raise ValueError("a digest is NULL")
    tails = pc.utf8_slice_codeunits(values, -32)
    if pc.min(pc.utf8_length(tails)).as_py() != 32:
        raise ValueError("a digest is shorter than 32 hex digits")
    offsets = np.frombuffer(tails.buffers()[1], dtype=np.int32, count=tails.offset + n + 1)
    first = int(offsets[tails.offset])
    data = np.frombuffer(tails.buffers()[2], dtype=np.uint8)[first : first + 32 * n]
    nibbles = _NIBBLE[data.reshape(n, 32)]
    if (nibbles == 255).any():
        raise ValueError("a digest is not hexadecimal")
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(raw).view("S16").reshape(n)
