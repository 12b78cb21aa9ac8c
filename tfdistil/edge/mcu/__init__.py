"""Microcontroller kit and emulation: C arrays, the word table, firmware builds for QEMU boards, native Linux runners."""
