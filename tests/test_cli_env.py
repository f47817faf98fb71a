"""`groundflare env`: one command points wrangler, the SDKs and S3 clients at a stack;
`status` and `profile show` say where the APIs are and which S3 key signs for them."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.v4 import PROBES, groundflare, stack_env


def test_eval_of_env_gives_a_shell_what_json_gives_a_script(tmp_data, stacks):
    stack = stacks(PROBES, tmp_data)
    as_json = stack_env(tmp_data)
    assert as_json["CLOUDFLARE_API_BASE_URL"] == f"{stack.ready['api']}/client/v4"
    assert as_json["AWS_ENDPOINT_URL_S3"] == stack.ready["api"]
    script = (
        f'eval "$({sys.executable} -m groundflare env --data-dir {tmp_data})" && '
        f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    )
    seen = json.loads(
        subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert {name: seen[name] for name in as_json} == as_json


def test_the_account_id_is_wrangler_tomls_when_it_names_one(tmp_data, stacks, tmp_path):
    stacks(PROBES, tmp_data)
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "x"\naccount_id = "0123456789abcdef0123456789abcdef"\n')
    done = groundflare("env", "--json", "-c", str(config), "--data-dir", str(tmp_data))
    assert json.loads(done.stdout)["CLOUDFLARE_ACCOUNT_ID"] == "0123456789abcdef0123456789abcdef"


def test_env_without_a_running_stack_fails_with_one_line(tmp_data):
    done = groundflare("env", "--data-dir", str(tmp_data))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"groundflare: env: nothing is running on {tmp_data}: start it with `groundflare serve`"
    ]


def test_status_and_profile_show_name_the_apis_and_the_s3_key(tmp_data, stacks):
    stack = stacks(PROBES, tmp_data)
    env = stack_env(tmp_data)
    status = groundflare("status", "--data-dir", str(tmp_data)).stdout
    assert f"v4 API       {stack.ready['api']}/client/v4" in status
    assert env["AWS_ACCESS_KEY_ID"] in status
    assert env["AWS_SECRET_ACCESS_KEY"] not in status
    shown = json.loads(groundflare("profile", "show", "--data-dir", str(tmp_data)).stdout)
    assert shown["s3"] == {"access_key_id": env["AWS_ACCESS_KEY_ID"]}
    assert env["CLOUDFLARE_API_TOKEN"] not in json.dumps(shown)
    revealed = json.loads(
        groundflare("profile", "show", "--secrets", "--data-dir", str(tmp_data)).stdout
    )
    assert revealed["secrets"]["api_token"] == env["CLOUDFLARE_API_TOKEN"]
    assert revealed["secrets"]["s3_secret_access_key"] == env["AWS_SECRET_ACCESS_KEY"]
