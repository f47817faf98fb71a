"""The desktop profile and its secrets: generated once, stored safely, shown redacted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from groundflare.cli import main
from groundflare.profile import SECRET_NAMES, Installation, ProfileError, schema
from groundflare.secret_store import EncryptedFileStore, SecretStoreError
from tests.stack import REPO


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch) -> Path:
    """Keys go to the user config dir; keep them in the test's own folder."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def test_the_schema_file_is_generated_from_the_model():
    on_disk = json.loads((REPO / "profile" / "schema.json").read_text())
    assert on_disk == schema(), "regenerate: groundflare profile schema > profile/schema.json"


def test_init_creates_a_profile_without_secrets_in_it(tmp_data, config_home):
    result = cli("profile", "init", "--data-dir", str(tmp_data))
    assert result.exit_code == 0, result.output
    profile_file = tmp_data / "profile.json"
    assert stat.S_IMODE(profile_file.stat().st_mode) == 0o600
    install = Installation(tmp_data)
    profile = install.load()
    values = install.secrets(profile)
    assert sorted(values) == sorted(SECRET_NAMES)
    assert all(len(v) >= 43 for v in values.values())
    text = profile_file.read_text() + (tmp_data / "secrets.enc").read_bytes().hex()
    assert not any(v in text or v.encode().hex() in text for v in values.values())
    keys = list((config_home / "groundflare" / "keys").iterdir())
    assert [k.name for k in keys] == [f"{profile.install_id}.key"]
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600


def test_init_keeps_an_existing_profile(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    first = Installation(tmp_data).load()
    result = cli("profile", "init", "--data-dir", str(tmp_data))
    assert "already exists" in result.output
    assert Installation(tmp_data).load() == first


def test_show_redacts_every_secret(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    install = Installation(tmp_data)
    values = install.secrets(install.load())
    result = cli("profile", "show", "--data-dir", str(tmp_data))
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert shown["secrets"] == {name: "<set, 43 chars, in encrypted-file>" for name in SECRET_NAMES}
    # The S3 access key id is an id, shown on purpose (docs/api.md); its secret is not.
    assert shown["s3"] == {"access_key_id": values.pop("s3_access_key_id")}
    assert not any(v in result.output for v in values.values())


def test_rotate_replaces_only_the_named_secret(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    install = Installation(tmp_data)
    before = install.secrets(install.load())
    assert cli("profile", "rotate", "api_token", "--data-dir", str(tmp_data)).exit_code == 0
    after = install.secrets(install.load())
    assert after["api_token"] != before["api_token"]
    assert {k: v for k, v in after.items() if k != "api_token"} == {
        k: v for k, v in before.items() if k != "api_token"
    }


def test_reset_asks_first_and_then_starts_over(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    old = Installation(tmp_data).load()
    refused = cli("profile", "reset", "--data-dir", str(tmp_data), input="n\n")
    assert refused.exit_code != 0
    assert Installation(tmp_data).load() == old
    confirmed = cli("profile", "reset", "--data-dir", str(tmp_data), input="y\n")
    assert confirmed.exit_code == 0
    assert Installation(tmp_data).load().install_id != old.install_id
    assert cli("profile", "reset", "--yes", "--data-dir", str(tmp_data)).exit_code == 0


def test_a_corrupt_profile_is_an_error_never_an_overwrite(tmp_data):
    tmp_data.mkdir(parents=True)
    (tmp_data / "profile.json").write_text("{not json")
    result = cli("profile", "show", "--data-dir", str(tmp_data))
    assert result.exit_code == 1
    assert "is not readable JSON" in result.output and "profile reset" in result.output
    assert (tmp_data / "profile.json").read_text() == "{not json"


def test_a_profile_from_another_schema_version_is_refused_clearly(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    raw = json.loads((tmp_data / "profile.json").read_text())
    raw["schema_version"] = 2
    (tmp_data / "profile.json").write_text(json.dumps(raw))
    with pytest.raises(
        ProfileError, match="has schema_version 2; this groundflare reads version 1"
    ):
        Installation(tmp_data).load()


def test_invalid_fields_are_named(tmp_data):
    cli("profile", "init", "--data-dir", str(tmp_data))
    raw = json.loads((tmp_data / "profile.json").read_text())
    raw["mounts"] = [{"host_path": "relative", "guest_path": "/etc"}]
    (tmp_data / "profile.json").write_text(json.dumps(raw))
    with pytest.raises(ProfileError) as caught:
        Installation(tmp_data).load()
    assert "mounts.0.host_path: Value error, must be an absolute path" in str(caught.value)
    assert "mounts.0.guest_path: Value error, must be an absolute path under /workspace" in str(
        caught.value
    )


def test_the_encrypted_file_opens_only_with_its_key(tmp_path):
    store = EncryptedFileStore(tmp_path / "s.enc", tmp_path / "k1", "install")
    store.write({"api_token": "secret-value"})
    assert store.read() == {"api_token": "secret-value"}
    other_key = EncryptedFileStore(tmp_path / "s.enc", tmp_path / "k2", "install")
    other_key.key_path.write_bytes(b"\x00" * 32)
    with pytest.raises(SecretStoreError, match="does not decrypt"):
        other_key.read()
    other_install = EncryptedFileStore(tmp_path / "s.enc", tmp_path / "k1", "another")
    with pytest.raises(SecretStoreError, match="does not decrypt"):
        other_install.read()
    (tmp_path / "k1").unlink()
    with pytest.raises(SecretStoreError, match="is missing"):
        store.read()


KEYRING_ENV = ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
KEYRING_VERDICTS = """
import json
from keyring.backends import fail
import keyring
from groundflare.secret_store import no_keyring_possible
shortcut = no_keyring_possible()
backend = keyring.get_keyring()
usable = not isinstance(backend, fail.Keyring) and backend.priority > 0
print(json.dumps([shortcut, usable]))
"""


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"},
        {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"},
    ],
    ids=["no-session-bus", "a-session-bus-address", "a-backend-named"],
)
def test_the_keyring_shortcut_never_hides_a_backend_keyring_would_use(env, tmp_path):
    """The start skips keyring's probe only where keyring itself finds no backend."""
    clean = {k: v for k, v in os.environ.items() if k not in KEYRING_ENV}
    clean |= {"XDG_CONFIG_HOME": str(tmp_path), **env}
    out = subprocess.run(
        [sys.executable, "-c", KEYRING_VERDICTS], env=clean, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    shortcut, usable = json.loads(out.stdout)
    assert not (shortcut and usable)
    if env:
        assert not shortcut, "a bus address or a named backend always asks keyring"
