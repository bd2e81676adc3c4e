"""The package's manifests of training clips (``training/extra_sources.json``,
``training/more_sources.json``) name only clips a training run may use.

Why: ``extract_clips.py --manifest`` extracts every sequence a manifest lists, and the trainer
trains on every extracted clip that ``--heldout-clips`` does not name. A manifest that listed a
sequence reserved for independent evaluation (``never_use``), one of the held-out clips the
figures are measured on, or one sequence twice under one name would put it into training without
anyone choosing to. These checks read the files as ``extract_clips.py`` does.
"""

import json
import re
from pathlib import Path

import pytest

from mixformerv2_ros.training.train import DEFAULT_HELDOUT_CLIPS, DEFAULT_HELDOUT_EXTRA

REPO = Path(__file__).resolve().parents[1]
PACKAGE_MANIFESTS = [REPO / "mixformerv2_ros" / "training" / name
                     for name in ("extra_sources.json", "more_sources.json")]
SHARED_MANIFEST = REPO.parent / "shared" / "data" / "train_sources.json"
SEQUENCE_FIELDS = {"name", "frames", "img_pattern", "first_frame_number", "gt_path", "gt_format", "width", "height"}


def _sequences(path):
    manifest = json.loads(path.read_text())
    return manifest, [(repo, sequence) for repo in manifest["repos"] for sequence in repo["sequences"]]


def _reserved(manifest):
    """The never_use entries as (base name, whether every part counts): "group1 (any part)" also
    reserves group1_1, group1_2, ..."""
    return [(re.sub(r"\s*\(any part\)$", "", entry).lower(), entry.endswith("(any part)"))
            for entry in manifest["never_use"]]


def _is_reserved(name, reserved):
    name = name.lower()
    return any(name == base or (any_part and re.fullmatch(re.escape(base) + r"([_-]\d+)?", name))
               for base, any_part in reserved)


@pytest.mark.parametrize("path", PACKAGE_MANIFESTS, ids=lambda p: p.name)
def test_a_manifest_lists_no_reserved_or_held_out_sequence_and_each_name_once(path):
    manifest, sequences = _sequences(path)
    reserved = _reserved(manifest)
    assert reserved, "the manifest carries the never_use list it is checked against"
    names = [sequence["name"] for _, sequence in sequences]
    assert len(names) == len(set(names)), f"a name listed twice: {sorted(n for n in names if names.count(n) > 1)}"
    assert manifest["total_sequences"] == len(sequences)
    assert manifest["total_frames"] == sum(sequence["frames"] for _, sequence in sequences)
    held_out = {name.lower() for name in DEFAULT_HELDOUT_CLIPS + DEFAULT_HELDOUT_EXTRA}
    for repo, sequence in sequences:
        assert re.fullmatch(r"[0-9a-f]{40}", repo["rev"]), repo["repo"]
        assert SEQUENCE_FIELDS <= set(sequence), (sequence["name"], SEQUENCE_FIELDS - set(sequence))
        assert not _is_reserved(sequence["name"], reserved), f"{sequence['name']} is reserved (never_use)"
        assert sequence["name"].lower() not in held_out, f"{sequence['name']} is a held-out clip"
        assert sequence["frames"] > 0 and "{" in sequence["img_pattern"]


def test_the_reserved_names_match_their_parts():
    reserved = _reserved({"never_use": ["group1 (any part)", "bike1"]})
    assert _is_reserved("group1_2", reserved) and _is_reserved("Group1", reserved)
    assert _is_reserved("bike1", reserved) and not _is_reserved("bike1_2", reserved)
    assert not _is_reserved("group10", reserved)


def test_no_sequence_is_listed_by_two_manifests():
    """A clip extracted twice into one folder keeps the last copy; one listed under one name in two
    manifests would also count twice in a model card's data section."""
    paths = PACKAGE_MANIFESTS + ([SHARED_MANIFEST] if SHARED_MANIFEST.exists() else [])
    seen = {}
    for path in paths:
        for _, sequence in _sequences(path)[1]:
            name = sequence["name"].lower()
            assert name not in seen, f"{sequence['name']} is in {seen.get(name)} and {path.name}"
            seen[name] = path.name
    assert len(seen) >= 31
