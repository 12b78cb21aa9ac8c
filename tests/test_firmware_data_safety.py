"""Data safety of the kit-writing options (issue 33): `convert` does not replace a vocab.json (or
.tflite) beside --out that it did not write, `convert --c-array` and `firmware --build-dir` do not
write kit files into a folder tfdistil did not make. Each refusal is one line on stderr, exit 2,
before any work, and the user's files stay byte for byte; --overwrite reaches only tfdistil's own."""
import os

from conftest import run_cli


def _user_folder(path):
    os.makedirs(path)
    files = {"vocab.json": b'{"mine": true}\n', "notes.txt": b"my own notes\n", "model_data.h": b"// mine\n"}
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    return files


def _intact(path, files):
    assert sorted(os.listdir(path)) == sorted(files)
    for name, data in files.items():
        with open(os.path.join(path, name), "rb") as f:
            assert f.read() == data


def _refused(proc, *words):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_convert_keeps_a_users_vocab_json_beside_out(tiny_run, data_dir, tmp_path):
    folder = tmp_path / "mine"
    files = _user_folder(folder)
    proc = run_cli("convert", tiny_run["cnn"], "--out", str(folder / "cnn_int8.tflite"), "--data", data_dir,
                   "--calibration-size", "20", check=False)
    _refused(proc, "vocab.json", "not written by tfdistil")
    _intact(folder, files)
    # a vocab.json with exactly the bytes convert writes (here the run's own) is no user's data: converted
    same = tmp_path / "same"
    os.makedirs(same)
    with open(os.path.join(tiny_run["cnn"], "vocab.json"), "rb") as f:
        (same / "vocab.json").write_bytes(f.read())
    run_cli("convert", tiny_run["cnn"], "--out", str(same / "cnn_int8.tflite"), "--data", data_dir,
            "--calibration-size", "20")
    assert sorted(os.listdir(same)) == ["cnn_int8.json", "cnn_int8.tflite", "vocab.json"]


def test_convert_c_array_refuses_a_users_folder(tiny_run, data_dir, tmp_path):
    folder = tmp_path / "kit"
    files = _user_folder(folder)
    proc = run_cli("convert", tiny_run["cnn"], "--out", str(tmp_path / "m" / "cnn.tflite"), "--data", data_dir,
                   "--c-array", str(folder), "--overwrite", check=False)
    _refused(proc, "--c-array", "not made by tfdistil")
    _intact(folder, files)
    assert not os.path.exists(tmp_path / "m")  # refused before the conversion wrote anything


def test_firmware_build_dir_refuses_a_users_folder_and_overwrites_only_its_own(converted_int8, data_dir, tmp_path):
    folder = tmp_path / "build"
    files = _user_folder(folder)
    model = converted_int8["cnn"]["path"]
    for extra in ([], ["--overwrite"]):
        proc = run_cli("firmware", model, "--build-dir", str(folder), "--data", data_dir, "--limit", "2", *extra,
                       check=False)
        _refused(proc, "--build-dir", "not made by tfdistil")
        _intact(folder, files)
    # a folder an earlier --build-dir made: refused without --overwrite, past the check with it
    ours = tmp_path / "ours"
    os.makedirs(ours)
    from tfdistil.files import mark
    mark(str(ours), "firmware-build")
    (ours / "firmware.elf").write_bytes(b"old")
    _refused(run_cli("firmware", model, "--build-dir", str(ours), check=False), "pass --overwrite")
    proc = run_cli("firmware", str(tmp_path / "no-such-model.tflite"), "--build-dir", str(ours), "--overwrite",
                   check=False)
    _refused(proc, "no-such-model")  # the next check speaks: the build-dir one passed
