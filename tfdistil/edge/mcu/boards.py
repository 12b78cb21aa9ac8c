"""The emulated boards `tfdistil firmware` builds for, and the linker script that places the
firmware in each board's memory.

Every board is a qemu-system-arm 7.2 machine. Each entry says where code and data live (the
memory map QEMU models, checked with `info mtree`), which timer counts instructions under
`-icount`, and the CPU flags. The linker script reserves the stack and the heap inside RAM, so
a firmware that does not fit fails at link time: flash and RAM figures are what the linker
placed, not what the emulator happens to allow.

Secure-first boards (AN505 Cortex-M33, AN547 Cortex-M55) start in the Secure state with the
vector table at 0x10000000, so everything is linked at the Secure aliases (address bit 28 set).
"""
import os

from tfdistil.errors import UserError

KIB, MIB = 1024, 1024 * 1024
STACK_BYTES = 16 * KIB  # measured high-water marks are < 2 KB; the paint covers 12 KB of it
HEAP_BYTES = 8 * KIB    # newlib's stdio buffers (measured 5.8 KB); TFLM never mallocs

# timer kinds (qemu_board.h): a CMSDK APB timer counting down, the MPS2/MPS3 FPGA IO's 32-bit
# up counter, or an STM32 general-purpose timer's CNT.
CMSDK, FPGAIO, STM32 = "cmsdk", "fpgaio", "stm32"
TIMER_KINDS = {CMSDK: 0, FPGAIO: 1, STM32: 2}

BOARDS = {
    "mps2-an385": {
        "about": "Arm MPS2+ AN385 (Cortex-M3, no DSP, no FPU)", "machine": "mps2-an385", "cpu": "cortex-m3",
        "cpu_flags": ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
        "flash": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "timer": (CMSDK, 0x40000000), "timer_hz": 25_000_000, "icount_shift": 6,
    },
    "mps2-an386": {
        "about": "Arm MPS2+ AN386 (Cortex-M4, soft float)", "machine": "mps2-an386", "cpu": "cortex-m4",
        "cpu_flags": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"],
        "flash": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        # CMSDK APB timer 0 at 25 MHz: 64 ns of virtual time per instruction = 1.6 ticks
        "timer": (CMSDK, 0x40000000), "timer_hz": 25_000_000, "icount_shift": 6,
    },
    "mps2-an500": {
        "about": "Arm MPS2+ AN500 (Cortex-M7, soft float)", "machine": "mps2-an500", "cpu": "cortex-m7",
        "cpu_flags": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"],
        "flash": (0x00000000, 4 * MIB), "ram": (0x20000000, 4 * MIB),
        "timer": (CMSDK, 0x40000000), "timer_hz": 25_000_000, "icount_shift": 6,
    },
    "mps2-an505": {
        "about": "Arm MPS2+ AN505 (Cortex-M33, SSE-200, Secure state, soft float)", "machine": "mps2-an505",
        "cpu": "cortex-m33", "cpu_flags": ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=soft"],
        # SSRAM1 (4 MB) at its Secure alias; SSRAM2+3 (2 x 2 MB, contiguous) at 0x38000000
        "flash": (0x10000000, 4 * MIB), "ram": (0x38000000, 4 * MIB),
        # FPGA IO COUNTER (Secure alias of 0x40302000) at the 20 MHz SYSCLK
        "timer": (FPGAIO, 0x50302000), "timer_hz": 20_000_000, "icount_shift": 6,
    },
    "mps3-an547": {
        "about": "Arm MPS3 AN547 (Cortex-M55 with Helium/MVE, SSE-300, Secure state, hard float)",
        "machine": "mps3-an547", "cpu": "cortex-m55",
        "cpu_flags": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
        # The vector table in ITCM (Secure 0x10000000, where the core fetches it), the rest in
        # the 8 MB QSPI flash (Secure alias 0x38000000); data in the 512 KB DTCM (0x30000000).
        "vectors": (0x10000000, 512 * KIB), "flash": (0x38000000, 8 * MIB), "ram": (0x30000000, 512 * KIB),
        # FPGA IO COUNTER (Secure alias of 0x49302000): 20 MHz in QEMU 7.2, not the 32 MHz SYSCLK
        # (a 600,000-instruction loop read 768,010 ticks = 1.28 per instruction at shift 6)
        "timer": (FPGAIO, 0x59302000), "timer_hz": 20_000_000, "icount_shift": 6,
    },
    "netduinoplus2": {
        "about": "Netduino Plus 2 (STM32F405RG, Cortex-M4): 1 MB flash, 128 KB SRAM (the 64 KB CCM unused)",
        "machine": "netduinoplus2", "cpu": "cortex-m4",
        "cpu_flags": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft"],
        # The chip's real sizes (QEMU maps 192 KB of SRAM; the part has 112 + 16 KB at 0x20000000)
        "flash": (0x08000000, 1 * MIB), "ram": (0x20000000, 128 * KIB),
        # TIM2's 32-bit CNT, clocked at 1 GHz by QEMU: with -icount shift=0, one tick per instruction
        "timer": (STM32, 0x40000000), "timer_hz": 1_000_000_000, "icount_shift": 0,
    },
}


def check_board(board):
    if board not in BOARDS:
        raise UserError(f"unknown board {board!r}; choose one of: {', '.join(BOARDS)}")
    return BOARDS[board]


def ticks_per_instruction(board):
    """Timer ticks per executed instruction: 2^shift ns of virtual time at the timer's rate."""
    b = BOARDS[board]
    return (2 ** b["icount_shift"]) * b["timer_hz"] / 1e9


def board_defines(board):
    """-D flags the board's main and vector table are compiled with (qemu_board.h, vectors.c)."""
    kind, base = BOARDS[board]["timer"]
    paint = STACK_BYTES - 4 * KIB  # what main_qemu.cc paints below main() to find the high-water mark
    return [f"-DTFDISTIL_TIMER_KIND={TIMER_KINDS[kind]}", f"-DTFDISTIL_TIMER_BASE={base:#x}u",
            f"-DTFDISTIL_PAINT_BYTES={paint}"]


def linker_script(board):
    """A GNU ld script for the board: vectors first, code and constants in flash, .data copied
    from flash to RAM by the reset handler (vectors.c), then .bss, the heap and the stack in RAM."""
    b = BOARDS[board]
    (fo, fs), (ro, rs) = b["flash"], b["ram"]
    vectors = b.get("vectors")
    regions = f"  FLASH (rx) : ORIGIN = {fo:#x}, LENGTH = {fs:#x}\n  RAM (rwx) : ORIGIN = {ro:#x}, LENGTH = {rs:#x}\n"
    if vectors:
        regions = f"  VECTORS (rx) : ORIGIN = {vectors[0]:#x}, LENGTH = {vectors[1]:#x}\n" + regions
    return f"""/* tfdistil firmware for {board}: {b['about']} (generated by tfdistil/edge/mcu/boards.py) */
ENTRY(tfdistil_reset)
MEMORY
{{
{regions}}}
SECTIONS
{{
  .vectors : {{ KEEP(*(.vectors)) }} > {'VECTORS' if vectors else 'FLASH'}
  .text : ALIGN(4)
  {{
    *(.text .text.* .gnu.linkonce.t.*)
    KEEP(*(.init)) KEEP(*(.fini))
    *(.glue_7) *(.glue_7t) *(.vfp11_veneer) *(.v4_bx) *(.eh_frame)
  }} > FLASH
  .rodata : ALIGN(4) {{ *(.rodata .rodata.* .gnu.linkonce.r.*) }} > FLASH
  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > FLASH
  .ARM.exidx : {{ __exidx_start = .; *(.ARM.exidx* .gnu.linkonce.armexidx.*) __exidx_end = .; }} > FLASH
  .preinit_array : {{ PROVIDE_HIDDEN(__preinit_array_start = .); KEEP(*(.preinit_array*)) PROVIDE_HIDDEN(__preinit_array_end = .); }} > FLASH
  .init_array : {{ PROVIDE_HIDDEN(__init_array_start = .); KEEP(*(SORT(.init_array.*))) KEEP(*(.init_array*)) PROVIDE_HIDDEN(__init_array_end = .); }} > FLASH
  .fini_array : {{ PROVIDE_HIDDEN(__fini_array_start = .); KEEP(*(SORT(.fini_array.*))) KEEP(*(.fini_array*)) PROVIDE_HIDDEN(__fini_array_end = .); }} > FLASH
  .data : ALIGN(8) {{ __data_start__ = .; *(.data .data.* .gnu.linkonce.d.*) . = ALIGN(8); __data_end__ = .; }} > RAM AT > FLASH
  __data_load__ = LOADADDR(.data);
  .bss (NOLOAD) : ALIGN(8) {{ __bss_start__ = .; *(.bss .bss.* .gnu.linkonce.b.*) *(COMMON) . = ALIGN(8); __bss_end__ = .; }} > RAM
  .heap (NOLOAD) : ALIGN(8) {{ end = .; PROVIDE(_end = .); PROVIDE(__end__ = .); . += {HEAP_BYTES}; __tfdistil_heap_limit = .; }} > RAM
  .stack (NOLOAD) : ALIGN(8) {{ __tfdistil_stack_limit = .; . += {STACK_BYTES}; __tfdistil_stack_top = .; }} > RAM
}}
"""


def link_flags(board, out_dir):
    """Flags that link the firmware for `board` (writes out_dir/board.ld)."""
    os.makedirs(out_dir, exist_ok=True)
    script = os.path.join(out_dir, "board.ld")
    with open(script, "w") as f:
        f.write(linker_script(board))
    # newlib-nano: the same answers and instruction counts, ~20 KB less flash and 2 KB less RAM
    # (checked on mps2-an386 with the 256 KB student: firmware_notes/boards.md)
    return [*BOARDS[board]["cpu_flags"], "--specs=nano.specs", "--specs=rdimon.specs", f"-Wl,-T,{script}",
            "-Wl,--undefined=tfdistil_vectors", "-Wl,--gc-sections"]


def overflow_message(board, stderr):
    """One line for a firmware the board cannot hold (ld: "region `RAM' overflowed by N bytes")."""
    regions = {}
    for line in stderr.splitlines():
        if "overflowed by" in line and "region `" in line:
            name = line.split("region `", 1)[1].split("'", 1)[0]
            regions[name] = int(line.split("overflowed by", 1)[1].split()[0])
    if not regions:
        return None
    b = BOARDS[board]
    sizes = {"FLASH": b["flash"][1], "RAM": b["ram"][1], "VECTORS": (b.get("vectors") or (0, 0))[1]}
    parts = [f"{name.lower()} needs {sizes[name] + extra:,} of {sizes[name]:,} bytes" for name, extra in sorted(regions.items())]
    return f"the firmware does not fit {board}: {'; '.join(parts)}"
