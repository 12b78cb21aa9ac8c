"""The app-object cache of the firmware and bundle builds (tfdistil.edge.mcu.build.compile_app):
the same text is a hit from any folder, any change the compiler would see is a miss, and a
firmware linked from cached objects is byte for byte the one compiled from scratch."""
import os
import shutil

from tfdistil.edge.mcu import build as B
from tfdistil.edge.mcu.firmware import write_firmware_kit


def _source(folder, n):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "settings.h"), "w") as f:
        f.write(f"#define N {n}\n")
    with open(os.path.join(folder, "app.cc"), "w") as f:
        f.write('#include "settings.h"\nint table[N];\nint size() { return N * 2; }\n')
    return os.path.join(folder, "app.cc")


def test_hit_from_another_folder_miss_on_any_change(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDISTIL_CACHE", str(tmp_path / "cache"))
    gxx = shutil.which("g++")
    assert gxx, "g++ not on PATH (.ci/run installs it)"

    def compile_in(folder, n, *defines):
        src = _source(str(tmp_path / folder), n)
        obj = str(tmp_path / folder / "app.o")
        hit = B.compile_app(gxx, ["-O2", f"-I{tmp_path / folder}", *defines], src, obj, "compiling app.cc")
        return hit, open(obj, "rb").read()

    first = compile_in("a", 3)
    assert first[0] is False
    again = compile_in("b", 3)  # same text, another folder (another -I): reused, same bytes
    assert again == (True, first[1])
    assert compile_in("c", 4)[0] is False  # a header changed
    assert compile_in("d", 3, "-DEXTRA=1")[0] is False  # a flag changed
    assert compile_in("e", 3, "-O0")[0] is False


def test_the_cache_keeps_only_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDISTIL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(B, "APP_OBJECTS_KEPT", 2)
    for n in (1, 2, 3):
        src = _source(str(tmp_path / f"s{n}"), n)
        B.compile_app(shutil.which("g++"), ["-O1"], src, str(tmp_path / f"s{n}" / "app.o"), "compiling")
    assert len([f for f in os.listdir(os.path.join(B.cache_dir(), "app-obj")) if f.endswith(".o")]) == 2


def test_firmware_from_cached_objects_is_byte_identical(converted_int8, tmp_path, monkeypatch):
    """The M4 firmware (CMSIS-NN: main_qemu.cc and fast_ops.cc) linked from objects compiled now
    and from cached ones: the same ELF, byte for byte."""
    kit = str(tmp_path / "kit")
    ops = write_firmware_kit(converted_int8["bilstm_attn"]["path"], kit)["ops"]
    real = B.compile_app

    def fresh(compiler, flags, source, obj, what):
        B._run([compiler, *flags, "-c", source, "-o", obj], what)
        return False

    monkeypatch.setattr(B, "compile_app", fresh)
    B.build_firmware(kit, str(tmp_path / "fresh"), "mps2-an386", ops, kernels="cmsis-nn")
    monkeypatch.setattr(B, "compile_app", real)
    B.build_firmware(kit, str(tmp_path / "warm"), "mps2-an386", ops, kernels="cmsis-nn")  # fills the cache
    said = []
    B.build_firmware(kit, str(tmp_path / "cached"), "mps2-an386", ops, kernels="cmsis-nn", log=said.append)
    assert any("2 object(s) from the cache" in m for m in said), said
    elf = [open(tmp_path / d / "firmware.elf", "rb").read() for d in ("fresh", "cached")]
    assert elf[0] == elf[1]
