#!/usr/bin/env python3
"""Make a shared library load against an older system library by marking version requirements weak.

TorchSharp 0.107's libLibTorchSharp.so was built with GCC 13 and asks libstdc++ for GLIBCXX_3.4.32;
Debian 12's libstdc++ stops at 3.4.30, so the dynamic loader refuses the file. The only symbol under
that version, std::ios_base_library_init(), is referenced (GCC 13 emits the reference from <iostream>)
but never relocated, so nothing calls it. This script sets VER_FLG_WEAK on each version requirement
the system library lacks, after checking that no relocation uses a symbol of that version (it refuses
otherwise). A weak requirement that is missing is not an error for glibc's loader.

Usage: relax_version_needs.py check|patch FILE...
  check: exit 1 if any FILE needs patching on this system, else 0.
  patch: rewrite FILEs that need it (new file + rename: a hard link into the NuGet cache is left
         untouched); idempotent; prints one line per rewritten file.
"""
import ctypes, os, struct, sys

SHT_RELA, SHT_DYNSYM = 4, 11
SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFE, 0x6FFFFFFF
VER_FLG_WEAK = 0x2


def system_library(soname):
    """The file the dynamic loader picks for `soname` in this environment."""
    ctypes.CDLL(soname)
    with open('/proc/self/maps') as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith(soname):
                return os.path.realpath(path)
    raise SystemExit(f'cannot locate {soname}')


def sections(data):
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise SystemExit('not a 64-bit little-endian ELF file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum = struct.unpack_from('<HH', data, 0x3A)
    out = []
    for i in range(shnum):
        _, typ, _, _, off, size, link, _, _, entsize = struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize)
        out.append((typ, off, size, link, entsize))
    return out


def cstring(data, offset):
    return data[offset:data.index(b'\0', offset)].decode()


def requirements(data):
    """Yields (flags offset, library, version name, version index, weak) for every version requirement."""
    secs = sections(data)
    for typ, off, size, link, _ in secs:
        if typ != SHT_GNU_VERNEED:
            continue
        strtab = secs[link][1]
        pos = off
        while True:
            _, cnt, file_, aux, nxt = struct.unpack_from('<HHIII', data, pos)
            library = cstring(data, strtab + file_)
            apos = pos + aux
            for _ in range(cnt):
                _, flags, other, name, anext = struct.unpack_from('<IHHII', data, apos)
                yield apos + 4, library, cstring(data, strtab + name), other, bool(flags & VER_FLG_WEAK)
                apos += anext
            if nxt == 0:
                break
            pos += nxt


def relocated_symbols_of_version(data, index):
    """Names of symbols with version `index` that some relocation refers to."""
    secs = sections(data)
    dynsym = next(s for s in secs if s[0] == SHT_DYNSYM)
    versym = next(s for s in secs if s[0] == SHT_GNU_VERSYM)
    strtab = secs[dynsym[3]][1]
    count = dynsym[2] // 24
    of_version = {i for i in range(count) if struct.unpack_from('<H', data, versym[1] + 2 * i)[0] & 0x7FFF == index}
    used = set()
    for typ, off, size, _, _ in secs:
        if typ == SHT_RELA:
            for r in range(size // 24):
                info, = struct.unpack_from('<Q', data, off + 24 * r + 8)
                if info >> 32 in of_version:
                    used.add(info >> 32)
    return [cstring(data, strtab + struct.unpack_from('<I', data, dynsym[1] + 24 * i)[0]) for i in sorted(used)]


def missing(data, provided_cache={}):
    """Requirements the system's libraries do not provide and that are not weak yet."""
    out = []
    for flags_at, library, version, index, weak in requirements(data):
        if weak:
            continue
        if library not in provided_cache:
            try:
                with open(system_library(library), 'rb') as f:
                    provided_cache[library] = f.read()
            except OSError:
                provided_cache[library] = None
        lib = provided_cache[library]
        if lib is not None and (b'\0' + version.encode() + b'\0') not in lib:
            out.append((flags_at, library, version, index))
    return out


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ('check', 'patch'):
        raise SystemExit(__doc__)
    need = False
    for path in sys.argv[2:]:
        with open(path, 'rb') as f:
            data = bytearray(f.read())
        todo = missing(data)
        if not todo:
            continue
        need = True
        if sys.argv[1] == 'check':
            continue
        for flags_at, library, version, index in todo:
            used = relocated_symbols_of_version(data, index)
            if used:
                raise SystemExit(f'{path}: {version} from {library} is missing here and really used by {", ".join(used)}: not patching')
            flags, = struct.unpack_from('<H', data, flags_at)
            struct.pack_into('<H', data, flags_at, flags | VER_FLG_WEAK)
        temp = path + '.relaxing'
        with open(temp, 'wb') as f:
            f.write(data)
        os.chmod(temp, os.stat(path).st_mode & 0o7777)
        os.replace(temp, path)
        print(f'{path}: marked weak: ' + ', '.join(f'{v} ({l})' for _, l, v, _ in todo))
    sys.exit(1 if need and sys.argv[1] == 'check' else 0)


if __name__ == '__main__':
    main()
