"""One tree hash for the project manifest and the BNN cache: the digests pinned here were computed by
the two hashers it replaced, so firmware hashes in existing manifests and existing cache keys stay valid."""
from __future__ import annotations

import hashlib

from mcuforge.project.manifest import hash_tree
from mcuforge.train.bnn_cache import dataset_hash
from mcuforge.treehash import BLOCK, file_sha256, tree_sha256


def make_tree(root):
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x.txt").write_bytes(b"one\n")
    (root / "a-c").write_bytes(b"two")  # sorts after a/b part by part, before it as a string
    (root / "z.bin").write_bytes(b"\x00\xff")
    for build_output, text in (("build/fw.elf", b"out\n"), (".pio/p", b"p\n")):
        (root / build_output).parent.mkdir()
        (root / build_output).write_bytes(text)
    (root / "mf_build_id.h").write_bytes(b"id\n")
    return root


def test_pinned_digests_of_both_callers(tmp_path):
    root = make_tree(tmp_path)
    assert hash_tree(root, {"mf_build_id.h"}) == "1fbb1b59d7a6d789"
    assert hash_tree(root, set()) == "c50ab385c4e1d4e4"
    assert dataset_hash(root) == "5de948a5ee70d3b57e47a0a1fa91e103c0770df03f71b1d4a7451a1b28156fca"
    assert tree_sha256(root) == dataset_hash(root)


def test_files_larger_than_a_block_hash_whole(tmp_path):
    data = bytes(range(256)) * (BLOCK // 256 * 2 + 3)
    (tmp_path / "big").write_bytes(data)
    assert file_sha256(tmp_path / "big").hexdigest() == hashlib.sha256(data).hexdigest()
    assert tree_sha256(tmp_path) == hashlib.sha256(b"big\0" + data + b"\0").hexdigest()
