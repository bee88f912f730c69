"""Text encodings of exports: sniffing (UTF-8, BOMs, GB18030), libc iconv, decode errors.

Exports of the unified business application system come as UTF-8 (with or without a BOM) or
GB18030 (GBK/GB2312 are subsets). :func:`sniff_encoding` decides from the first bytes;
:func:`iconv_to_utf8` converts a whole GB18030 file with libc's iconv (twice as fast as Python's
codec); an undecodable byte is located exactly (:func:`locate_decode_error`) and reported with
its line and byte offset (:func:`decode_error`). A line longer than :data:`MAX_LINE_BYTES` is
refused (:func:`too_long`).

Examples
--------
>>> from pathlib import Path
>>> sniff_encoding(Path("x.csv"), "单位编码,罪名\\n".encode("gb18030"), True)
'gb18030'
>>> sniff_encoding(Path("x.csv"), "\\ufeff单位编码\\n".encode("utf-8"), True)
'utf-8-sig'
"""

from __future__ import annotations

import codecs
import ctypes
import ctypes.util
import errno as _errno
import mmap
from pathlib import Path

import pyarrow as pa

from casework.base.errors import DataError
from casework.ingest.messages import file_error

#: A line (CSV row, JSON line) longer than this is refused with a clear error.
MAX_LINE_BYTES = 4 << 20

#: Display names of the encodings :func:`sniff_encoding` returns.
ENCODING_NAMES = {"ascii": "UTF-8", "utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)",
                  "gb18030": "GB18030", "utf-16": "UTF-16", "utf-32": "UTF-32"}


def strip_bom(b: bytes) -> bytes:
    """``b`` without a leading UTF-8/UTF-16 byte-order mark."""
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if b.startswith(bom):
            return b[len(bom):]
    return b


def sniff_encoding(path: Path, head: bytes, complete: bool) -> str:
    """The encoding of a text file from its first bytes (the whole file when ``complete``)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    sample = head if complete else head[: head.rfind(b"\n") + 1] or head
    if b"\x00" in sample:
        off = sample.index(b"\x00")
        raise file_error(
            path, f"含有二进制内容（第 {off:,} 字节为 0x00），不是文本导出文件（也可能是无 "
                  "BOM 的 UTF-16）",
            f"contains binary data (byte {off:,} is 0x00): not a text export (or UTF-16 "
            "without a BOM)",
            hint="导出为 CSV（UTF-8 或 GB18030）或 .xlsx / "
                 "export as CSV (UTF-8 or GB18030) or .xlsx")
    try:
        text = sample.decode("utf-8")
        return "utf-8" if not text.isascii() else "ascii"
    except UnicodeDecodeError as err:
        prefix = sample[: err.start].decode("utf-8", errors="replace")
        cjk = sum(1 for ch in prefix if "\u4e00" <= ch <= "\u9fff")
        if cjk >= 2:
            raise decode_error(path, "utf-8", err.start, sample, mixed=True) from None
    try:
        sample.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as err:
        raise decode_error(path, "gb18030", err.start, sample, mixed=False) from None


def decode_error(path: Path, encoding: str, offset: int, data: bytes | None, *, mixed: bool,
                 line: int | None = None) -> DataError:
    if line is None and data is not None:
        line = data[:offset].count(b"\n") + 1
    bad = data[offset: offset + 2].hex(" ").upper() if data is not None else ""
    bad_zh = f"，字节 0x{bad}" if bad else ""
    bad_en = f", bytes 0x{bad}" if bad else ""
    if mixed:
        zh = (f"编码混杂：文件前面是 UTF-8，但第 {line:,} 行（第 {offset:,} "
              f"字节{bad_zh}）不是 UTF-8，"
              "可能拼接了不同编码的文件")
        en = (f"mixed encodings: the file starts as UTF-8 but line {line:,} (byte "
              f"offset {offset:,}"
              f"{bad_en}) is not UTF-8 — files of different encodings were probably joined")
    else:
        name = {"utf-8": "UTF-8", "gb18030": "GB18030", "utf-16": "UTF-16"}.get(encoding, encoding)
        zh = (f"无法识别文件编码：第 {line:,} 行（第 {offset:,} 字节{bad_zh}）既不是 "
              "UTF-8 也不是 GB18030"
              f"（按 {name} 解码失败），可能是二进制文件或混用了多种编码")
        en = (f"cannot decode the file: line {line:,} (byte offset {offset:,}{bad_en}) is "
              "neither UTF-8 "
              f"nor GB18030 (decoding as {name} failed); binary data or mixed encodings?")
    return file_error(path, zh, en, hint="用文本编辑器或 Excel 将文件另存为 UTF-8 或 "
                                         "GB18030 编码后重新导入 / "
                                          "re-save the file as UTF-8 or GB18030 and import again")


def locate_decode_error(path: Path, encoding: str) -> tuple[int, int, bytes] | None:
    """Stream the file to find the first undecodable byte: (offset, line, bytes)."""
    enc = "utf-8" if encoding in ("ascii", "utf-8-sig") else encoding
    base, lines, pending = 0, 0, b""
    with open(path, "rb") as fh:
        if encoding == "utf-8-sig":
            pending = fh.read(3)[3:]
            base = 3
        while True:
            chunk = fh.read(8 << 20)
            data = pending + chunk
            if not data:
                return None
            try:
                data.decode(enc)
                pending = b""
                consumed = len(data)
            except UnicodeDecodeError as err:
                if chunk and err.start >= len(data) - 4:
                    consumed = err.start
                    pending = data[err.start:]
                else:
                    return base + err.start, lines + data[: err.start].count(b"\n") + 1, \
                        data[err.start: err.start + 2]
            lines += data[:consumed].count(b"\n")
            base += consumed
            if not chunk:
                return None


def first_long_line(path: Path, limit: int) -> int | None:
    """1-based number of the first physical line longer than ``limit`` bytes."""
    line, run = 1, 0
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    run += len(chunk) - start
                    if run > limit:
                        return line
                    break
                if run + nl - start > limit:
                    return line
                run, start, line = 0, nl + 1, line + 1
    return None


def too_long(path: Path, line: int | None) -> DataError:
    """The error for a line longer than :data:`MAX_LINE_BYTES` (``line`` 1-based or None)."""
    where = f"第 {line:,} 行" if line else "有一行"
    where_en = f"line {line:,}" if line else "a line"
    mb = MAX_LINE_BYTES >> 20
    return file_error(
        path, f"{where}超过 {mb} MB（没有换行符或单元格过长），拒绝读取，以免耗尽内存",
        f"{where_en} is longer than {mb} MB (no line breaks, or a huge cell); refused to keep "
        "memory bounded",
        hint="检查文件是否完整、换行符是否正确，或拆分超长单元格 / "
             "check that the file is a proper export with "
             "line breaks")


class BadBytes(Exception):
    """Undecodable input at absolute byte ``offset``."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


def line_of(path: Path, offset: int) -> int:
    """1-based line number of byte ``offset`` of the file."""
    line, seen = 1, 0
    with open(path, "rb") as fh:
        while seen < offset and (chunk := fh.read(min(8 << 20, offset - seen))):
            line += chunk.count(b"\n")
            seen += len(chunk)
    return line


_ICONV = None


def _iconv_lib():
    """libc's iconv through ctypes (glibc, macOS), or ``False`` when there is none."""
    global _ICONV
    if _ICONV is None:
        try:
            name = ctypes.util.find_library("c") or ctypes.util.find_library("iconv")
            lib = ctypes.CDLL(name, use_errno=True)
            lib.iconv_open.restype = ctypes.c_void_p
            lib.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            lib.iconv.restype = ctypes.c_size_t
            ptr = ctypes.POINTER(ctypes.c_void_p)
            size = ctypes.POINTER(ctypes.c_size_t)
            lib.iconv.argtypes = [ctypes.c_void_p, ptr, size, ptr, size]
            lib.iconv_close.argtypes = [ctypes.c_void_p]
            _ICONV = lib
        except (OSError, AttributeError, TypeError):
            _ICONV = False
    return _ICONV


def iconv_to_utf8(path: Path, encoding: str):
    """The whole file converted to UTF-8 by libc's iconv, as an Arrow buffer.

    Twice as fast as Python's codec (this is most of the cost of reading a GB18030 export).
    Returns ``None`` when iconv is unavailable or does not know ``encoding``; raises
    :class:`BadBytes` at the first undecodable byte.
    """
    lib = _iconv_lib()
    if not lib or encoding != "gb18030":
        return None
    cd = lib.iconv_open(b"UTF-8", b"GB18030")
    if cd in (None, ctypes.c_void_p(-1).value):
        return None
    try:
        size = path.stat().st_size
        cap = size + size // 2 + 64  # a GB18030 character never takes more than 1.5× in UTF-8
        out = pa.allocate_buffer(cap, resizable=True)
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
            holder = ctypes.c_char.from_buffer(mm)
            try:
                base = ctypes.addressof(holder)
                inp, inleft = ctypes.c_void_p(base), ctypes.c_size_t(size)
                outp, outleft = ctypes.c_void_p(out.address), ctypes.c_size_t(cap)
                res = lib.iconv(cd, ctypes.byref(inp), ctypes.byref(inleft), ctypes.byref(outp),
                                ctypes.byref(outleft))
                if res == ctypes.c_size_t(-1).value:
                    err = ctypes.get_errno()
                    if err in (_errno.EILSEQ, _errno.EINVAL):
                        raise BadBytes(inp.value - base)
                    return None
                written = cap - outleft.value
            finally:
                del holder
        out.resize(written, shrink_to_fit=True)
        return out
    finally:
        lib.iconv_close(cd)


def decode_with_context(path: Path, encoding: str, off: int, line: int) -> DataError:
    """The decode error at absolute byte ``off`` (line ``line``), bytes read from the file."""
    with open(path, "rb") as fh:
        fh.seek(off)
        data = fh.read(2)
    mixed = encoding in ("utf-8", "utf-8-sig")
    err = decode_error(path, "utf-8" if mixed else encoding, 0, data, mixed=mixed, line=line)
    # the offset in the message must be the absolute one
    err.zh = err.zh.replace("第 0 字节", f"第 {off:,} 字节")
    err.en = err.en.replace("byte offset 0", f"byte offset {off:,}")
    err.args = (str(err),)
    return err
