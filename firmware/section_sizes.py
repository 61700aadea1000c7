#!/usr/bin/env python3
"""Prints the sizes of an ELF file's allocated sections, without binutils.

Usage: section_sizes.py ELF [SECTION LIMIT]; with a section and a limit in
bytes, exits 1 when the section is larger.
"""
import struct
import sys


def sections(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF":
        raise SystemExit(f"{path}: not an ELF file")
    is64 = data[4] == 2
    endian = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(endian + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(endian + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, 0x2E)
    headers = []
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            name, kind, flags, _, _, size = struct.unpack_from(endian + "IIQQQQ", data, base)
        else:
            name, kind, flags, _, _, size = struct.unpack_from(endian + "IIIIII", data, base)
        headers.append((name, kind, flags, size))
    strtab = headers[shstrndx]
    str_off = struct.unpack_from(endian + ("Q" if is64 else "I"), data, shoff + shstrndx * shentsize + (0x18 if is64 else 0x10))[0]
    result = {}
    for name, kind, flags, size in headers:
        end = data.index(b"\0", str_off + name)
        label = data[str_off + name:end].decode()
        if flags & 0x2:  # SHF_ALLOC
            result[label] = size
    return result


def main():
    path = sys.argv[1]
    found = sections(path)
    for label, size in found.items():
        print(f"{label:<16} {size:>8} bytes")
    if len(sys.argv) == 4:
        section, limit = sys.argv[2], int(sys.argv[3])
        size = found.get(section, 0)
        verdict = "within" if size <= limit else "OVER"
        print(f"{section}: {size} bytes, {verdict} the goal of {limit} bytes")
        if size > limit:
            sys.exit(1)


if __name__ == "__main__":
    main()
