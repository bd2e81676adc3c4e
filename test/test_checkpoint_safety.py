"""Official checkpoints load without importing or running anything from their pickle."""

import pickle
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch

from mixformerv2_ros.model import CheckpointError, UnsafeCheckpointError, load_checkpoint


def test_golden_checkpoints_import_nothing_from_their_pickle(golden_dir, tmp_path):
    """A trap package named like the official code records any import; none may happen."""
    trap = tmp_path / "trap"
    (trap / "lib" / "train" / "admin").mkdir(parents=True)
    marker = tmp_path / "imported.txt"
    for pkg in (trap / "lib", trap / "lib" / "train", trap / "lib" / "train" / "admin"):
        (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n")
    (trap / "lib" / "train" / "admin" / "settings.py").write_text(
        f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\nclass Settings: pass\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(trap)!r})
        from mixformerv2_ros.model import load_checkpoint
        for v in ("small", "base"):
            load_checkpoint({str(golden_dir)!r} + f"/mixformerv2_{{v}}_d1.pth.tar")
        print(sorted(m for m in sys.modules if m == "lib" or m.startswith("lib.")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert not marker.exists(), marker.read_text()


def test_the_golden_pickle_really_names_the_official_class(golden_dir):
    """Guards the test above: the pickle does reference lib.train.admin.settings."""
    with zipfile.ZipFile(golden_dir / "mixformerv2_small_d1.pth.tar") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert b"lib.train.admin.settings" in data
    with pytest.raises(Exception):
        torch.load(golden_dir / "mixformerv2_small_d1.pth.tar", weights_only=True)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # a pickle that creates a file when loaded


class _RunsShell:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", ["file", "shell"])
def test_a_pickle_that_runs_code_is_refused(tmp_path, golden_dir, payload):
    marker = tmp_path / "ran.txt"
    content = {"net": load_checkpoint(golden_dir / "mixformerv2_small_d1.pth.tar").state_dict(),
               "settings": _RunsCode(str(marker)) if payload == "file" else _RunsShell()}
    path = tmp_path / "evil.pth.tar"
    torch.save(content, path)
    with pytest.raises(UnsafeCheckpointError, match="run code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_corrupt_truncated_and_foreign_files_are_clear_errors(tmp_path, golden_dir):
    good = (golden_dir / "mixformerv2_small_d1.pth.tar").read_bytes()
    cases = {
        "truncated.pth.tar": good[: len(good) // 2],
        "random.pth.tar": bytes(range(256)) * 64,
        "empty.pth.tar": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match="checkpoint"):
            load_checkpoint(tmp_path / name)
    torch.save({"epoch": 3}, tmp_path / "no_net.pth.tar")
    with pytest.raises(CheckpointError, match="no 'net'"):
        load_checkpoint(tmp_path / "no_net.pth.tar")
    state = load_checkpoint(golden_dir / "mixformerv2_small_d1.pth.tar").state_dict()
    del state["score_head.layers.1.bias"]
    state["extra.weight"] = torch.zeros(1)
    torch.save({"net": state}, tmp_path / "keys.pth.tar")
    with pytest.raises(CheckpointError, match=r"missing \['score_head.layers.1.bias'\].*unexpected \['extra.weight'\]"):
        load_checkpoint(tmp_path / "keys.pth.tar")
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pth.tar")


def test_plain_pickle_is_not_accepted(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"net": {}}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
