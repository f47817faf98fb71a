"""Resource names become file names only through encoding."""

from __future__ import annotations

import pytest

from groundflare.contracts.names import MAX_PART, file_part


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("controlplane", "controlplane"),
        ("my-db_2", "my-db_2"),
        ("../../etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
        ("/abs", "%2Fabs"),
        ("a\x00b", "a%00b"),
        ("café", "caf%C3%A9"),
        (".hidden", "%2Ehidden"),
        ("CON", "%434f4e"),
        ("", "%"),
    ],
)
def test_file_part(name, expected):
    assert file_part(name) == expected


def test_long_names_are_truncated_with_a_hash_and_stay_distinct():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(file_part(a)) == MAX_PART
    assert file_part(a) != file_part(b)


def test_encoded_forms_never_collide_with_literal_names():
    assert file_part("%2Fabs") != file_part("/abs")
    assert file_part("%") != file_part("")
