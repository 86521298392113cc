"""The token key file: made once (0600), shared by every node that reads it, rotated by
listing more than one key."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from glimpse.config import ConfigurationError
from glimpse.identity.tokens import load_or_create_keys
from tests.identity.conftest import Node, auth


def test_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token-keys"
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: load_or_create_keys(path), range(8)))
    assert all(keys == found[0] for keys in found) and len(found[0]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token-keys"]  # no leftovers


@pytest.mark.parametrize("content", [b"", b"\n\n", b"not-a-key\n"])
def test_unusable_key_files_stop_the_start(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "token-keys"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError):
        load_or_create_keys(path)


async def test_nodes_sharing_the_key_accept_each_others_tokens(make_node: Any) -> None:
    first: Node = await make_node()
    second: Node = await make_node()  # same data dir, so the same key file
    token = await first.token("alice", project="alpha")
    assert (await second.client.get("/v2/images", headers=auth(token))).status_code == 200


async def test_rotation_keeps_tokens_of_the_old_key(make_node: Any, tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    key_file = tmp_path / "rotating-keys"
    key_file.write_bytes(old + b"\n")
    key_file.chmod(0o600)
    before: Node = await make_node(token_key_file=key_file)
    token = await before.token("alice", project="alpha")
    # the new key on top signs from now on; the old one still opens old tokens
    key_file.write_bytes(new + b"\n" + old + b"\n")
    after: Node = await make_node(token_key_file=key_file)
    assert (await after.client.get("/v2/images", headers=auth(token))).status_code == 200
    fresh = await after.token("alice", project="alpha")
    assert Fernet(new).decrypt(fresh + "=" * (-len(fresh) % 4))
    # once the old key is dropped, its tokens are void
    key_file.write_bytes(new + b"\n")
    dropped: Node = await make_node(token_key_file=key_file)
    assert (await dropped.client.get("/v2/images", headers=auth(token))).status_code == 401
    assert (await dropped.client.get("/v2/images", headers=auth(fresh))).status_code == 200


async def test_only_the_canonical_spelling_of_a_token_is_accepted(node: Node) -> None:
    token = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    look_alikes = [
        token + "=",  # re-padded
        token + "=" * (-len(token) % 4 or 4),
        token[:10] + "\n" + token[10:],  # a character base64 decoding skips
        token[:10] + "." + token[10:],
    ]
    # the last character's unused low bits: a different character, the same bytes
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}.get(len(token) % 4, 0)
    if unused:
        last = alphabet.index(token[-1])
        look_alikes.append(token[:-1] + alphabet[last ^ 1])
    for fake in look_alikes:
        response = await node.client.get("/v2/images", headers={"X-Auth-Token": fake})
        assert response.status_code == 401, repr(fake)
