"""Settings regressions: a switch can be turned off on the command line; TOML keys spelt either way."""
import pytest

from hatchway.cli import build_parser, settle
from hatchway.settings import SettingsError


def _settle(argv, env=None):
    args = build_parser().parse_args(["serve", *argv])
    return settle(args, env or {})


def test_switch_from_env_or_file_can_be_turned_off_on_the_command_line(tmp_path):
    values, sources = _settle(["--no-reuse-port"], {"HATCHWAY_REUSE_PORT": "true"})
    assert (values["reuse_port"], sources["reuse_port"]) == (False, "command line")
    toml = tmp_path / "c.toml"
    toml.write_text("reload = true\nreuse-port = true\n")
    values, sources = _settle(["--config", str(toml), "--no-reload", "--no-reuse-port"])
    assert (values["reload"], values["reuse_port"]) == (False, False)
    assert sources["reload"] == sources["reuse_port"] == "command line"
    values, sources = _settle(["--reuse-port"], {})
    assert values["reuse_port"] is True
    values, sources = _settle([], {"HATCHWAY_REUSE_PORT": "true"})  # not given: the env still wins
    assert (values["reuse_port"], sources["reuse_port"]) == (True, "environment")


@pytest.mark.parametrize("dest, value, keys", [
    ("keepalive_timeout", 5.0, ["keep-alive", "keep_alive", "keepalive-timeout", "keepalive_timeout"]),
    ("request_timeout", 7.0, ["timeout", "request-timeout", "request_timeout"]),
    ("max_target_size", 4096, ["limit-request-line", "limit_request_line", "max-target-size", "max_target_size"]),
    ("reuse_port", True, ["reuse-port", "reuse_port"]),
])
def test_toml_keys_as_flag_or_setting_with_dashes_or_underscores(tmp_path, dest, value, keys):
    for key in keys:
        toml = tmp_path / "c.toml"
        text = "true" if value is True else str(value)
        toml.write_text(f"[hatchway]\n{key} = {text}\n")
        values, sources = _settle(["--config", str(toml)])
        assert (values[dest], sources[dest]) == (value, "config file"), key


def test_toml_key_given_twice_under_two_spellings_is_an_error(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("keep-alive = 5\nkeepalive_timeout = 6\n")
    with pytest.raises(SettingsError, match="set twice"):
        _settle(["--config", str(toml)])


def test_real_server_takes_keepalive_timeout_from_toml_and_no_reuse_port(start_server, pid_app, kit, workdir):
    (workdir / "hatchway.toml").write_text("keepalive-timeout = 5\nreuse_port = true\n")
    srv = start_server("--config", "hatchway.toml", "--workers", "1", "--no-reuse-port").ready(workers=1)
    assert kit.get(srv.port)[0] == 200
    assert "SO_REUSEPORT" not in srv.log()
