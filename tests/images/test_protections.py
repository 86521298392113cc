"""Reading a property protection file: every flaw stops start-up with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from glimpse.config import ConfigurationError
from glimpse.images.protections import read_protection_file

GOOD = "[^x_.*]\ncreate = member\nread = @\nupdate = admin, member\ndelete = !\n"


def test_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "p.conf"
    path.write_text(GOOD + "\n[.*]\ncreate = a\nread = b\nupdate = c\ndelete =\n")
    found = read_protection_file(path, "roles")
    assert [rule.section for rule in found.rules] == ["^x_.*", ".*"]
    assert found.rules[0].allowed == {
        "create": ("member",), "read": ("@",), "update": ("admin", "member"), "delete": ("!",)
    }  # fmt: skip
    assert found.rules[1].allowed["delete"] == ()
    assert found.policy_rules == {}
    path.write_text(
        "[^x_.*]\ncreate = member\nread = @\nupdate = !\ndelete = !\n"
        "\n[.*]\ncreate = a\nread = b\nupdate = c\ndelete =\n"
    )
    as_policies = read_protection_file(path, "policies")
    assert as_policies.policy_rules == {
        "^x_.*:create": ("rule:member", None),
        ".*:create": ("rule:a", None),
        ".*:read": ("rule:b", None),
        ".*:update": ("rule:c", None),
    }


@pytest.mark.parametrize(
    ("text", "rule_format", "message"),
    [
        ("[x\ncreate = a\n", "roles", "is not a valid INI file"),
        ("create = a\n", "roles", "is not a valid INI file"),
        ("[(unclosed]\ncreate=a\nread=a\nupdate=a\ndelete=a\n", "roles",
         "[(unclosed] is not a regular expression"),
        ("[x]\ncreate = a\nread = a\nupdate = a\n", "roles", "[x] has no 'delete' entry"),
        ("[x]\ncreate = a\nread = a\nupdate = a\ndelete = a\nremove = a\n", "roles",
         "[x] has unknown entries: remove"),
        ("[x]\ncreate = @,!\nread = a\nupdate = a\ndelete = a\n", "roles",
         "'@' and '!' are mutually exclusive"),
        ("[x]\ncreate = a,b\nread = a\nupdate = a\ndelete = a\n", "policies",
         "names several policies"),
        (b"[x\xff]\n", "roles", "is not a valid INI file"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_refused(
    tmp_path: Path, text: str | bytes, rule_format: str, message: str
) -> None:
    path = tmp_path / "p.conf"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigurationError) as raised:
        read_protection_file(path, rule_format)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        read_protection_file(tmp_path / "nope.conf", "roles")
