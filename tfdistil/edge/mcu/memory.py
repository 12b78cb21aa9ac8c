"""What a firmware's flash and RAM hold: bytes from the ELF, attribution from the GNU ld map.

Flash is every section with bytes in the image (text, rodata, the tables, and .data's initial
values); RAM is every section the linker placed in the board's RAM region (.data, .bss and the
heap and stack the board's linker script reserves, see tfdistil.edge.mcu.boards).
"""
import os
import re
import struct

from tfdistil.errors import UserError
from tfdistil.edge.mcu.boards import BOARDS

def elf_layout(path):
    """({section: (address, size, flags, nobits)} of the loaded sections, {symbol: size}) of an ELF32 file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:5] != b"\x7fELF\x01":
        raise UserError(f"{path}: not an ELF32 file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]

    def name_at(table, offset):
        start = headers[table][4] + offset
        return data[start:data.index(b"\0", start)].decode()
    sections, symbols = {}, {}
    for h in headers:
        name, kind, flags, address, size = name_at(shstrndx, h[0]), h[1], h[2], h[3], h[5]
        if flags & 0x2 and size:  # SHF_ALLOC
            sections[name] = (address, size, flags, kind == 8)  # SHT_NOBITS: no bytes in the image
        if kind == 2:  # SHT_SYMTAB
            for off in range(h[4], h[4] + size, 16):
                st_name, _, st_size = struct.unpack_from("<III", data, off)
                if st_size:
                    symbols[name_at(h[6], st_name)] = st_size
    return sections, symbols


_INPUT = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_NAME_ONLY = re.compile(r"^ (\S+)$")
_CONTINUED = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")


def _origin(path):
    base = os.path.basename(path)
    if "libtflm.a(" in path:
        return "tflm"
    if base in ("model_data.o", "vocab_data.o"):
        return base.split("_")[0]  # "model" / "vocab"
    if base in ("main_qemu.o", "tokenizer.o", "vectors.o"):
        return "application"
    return "c_runtime"  # newlib, libstdc++, libgcc, crt*.o, linker stubs


def map_entries(map_path):
    """[(output section, address, size, origin)] of every input section in a GNU ld map."""
    entries, current, pending, started = [], None, None, False
    with open(map_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not started:
                started = line.startswith("Linker script and memory map")
            elif line and not line[0].isspace():
                current, pending = line.split()[0], None
            elif (m := _INPUT.match(line)) and m.group(1) != "*fill*":
                entries.append((current, int(m.group(2), 16), int(m.group(3), 16), _origin(m.group(4))))
                pending = None
            elif pending and (m := _CONTINUED.match(line)):
                entries.append((current, int(m.group(1), 16), int(m.group(2), 16), _origin(m.group(3))))
                pending = None
            else:
                m = _NAME_ONLY.match(line)
                pending = m.group(1) if m and m.group(1) != "*fill*" else None
    return entries


def section_owners(sections, entries):
    """{section: {origin: bytes}} summing exactly to each section's size. The map lists merged
    string sections with overlapping ranges, so every byte goes to the first input section that
    covers it; bytes no input section covers are alignment padding."""
    owners = {name: {} for name in sections}
    reach = {}
    for name, address, size, origin in sorted(e for e in entries if e[0] in sections):
        lo, hi = sections[name][0], sections[name][0] + sections[name][1]
        start, end = max(address, reach.get(name, lo)), min(address + size, hi)
        if end > start:
            owners[name][origin] = owners[name].get(origin, 0) + end - start
            reach[name] = end
    for name, parts in owners.items():
        parts["padding"] = sections[name][1] - sum(parts.values())
    return owners


def firmware_memory(elf, map_path, board):
    """Flash (every section with bytes in the image: text + rodata + tables + .data's initial
    values) split into model, vocabulary, TFLM runtime and the rest, and RAM (every section in the
    board's RAM: .data + .bss + the reserved heap and stack) with the arena; bytes from the ELF,
    attribution from the linker map."""
    sections, symbols = elf_layout(elf)
    owners = section_owners(sections, map_entries(map_path))
    ram_lo, ram_size = BOARDS[board]["ram"]
    flash = [n for n, (_, _, _, nobits) in sections.items() if not nobits]
    ram = [n for n, (address, *_) in sections.items() if ram_lo <= address < ram_lo + ram_size]

    def total(names, origin=None):
        return sum(sections[n][1] if origin is None else owners[n].get(origin, 0) for n in names)
    # the model: g_model, plus the heads of a per-token kit (static g_head_L<n>, mangled _ZL..)
    model = symbols.get("g_model", 0) + sum(size for name, size in symbols.items() if "g_head_L" in name)
    arena = next((size for name, size in symbols.items() if "tensor_arena" in name), 0)
    flash_parts = {"model": model, "vocabulary": total(flash, "vocab"), "tflm_runtime": total(flash, "tflm")}
    reserved = {"stack_reserved": sections.get(".stack", (0, 0))[1], "heap_reserved": sections.get(".heap", (0, 0))[1]}
    data = [n for n in ram if n not in (".stack", ".heap")]
    ram_parts = {"arena": arena, "tflm_runtime": total(data, "tflm"), **reserved}
    return {
        "flash": {"total": total(flash), **flash_parts, "other": total(flash) - sum(flash_parts.values()),
                  "other_detail": {"model_data_rest": total(flash, "model") - model,
                                   **{k: total(flash, k) for k in ("application", "c_runtime", "padding")}}},
        "ram": {"total": total(ram), **ram_parts, "other": total(ram) - sum(ram_parts.values()),
                "other_detail": {"application": total(data, "application") - arena,
                                 **{k: total(data, k) for k in ("c_runtime", "padding")}}},
        "sections": {n: sections[n][1] for n in sections},
        "board_flash_bytes": BOARDS[board]["flash"][1] + (BOARDS[board].get("vectors") or (0, 0))[1],
        "board_ram_bytes": ram_size,
    }
