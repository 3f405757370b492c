"""Settings: CLI > HATCHWAY_* > TOML file > defaults, and the generated options table."""
from pathlib import Path

import pytest

from hatchway.cli import TUNABLES, build_parser, options_table, server_config, settle
from hatchway.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]


def _settle(argv, env=None):
    args = build_parser().parse_args(["serve", *argv])
    return settle(args, env or {})


def test_precedence_cli_over_env_over_file_over_default(tmp_path):
    toml = tmp_path / "hatchway.toml"
    toml.write_text('workers = 3\nthreads = 4\nmax-requests = 100\nbind = ["127.0.0.1:9001"]\n'
                    'health_path = "/-/ready"\nreuse-port = true\n')
    env = {"HATCHWAY_CONFIG": str(toml), "HATCHWAY_THREADS": "6", "HATCHWAY_MAX_REQUESTS": "200",
           "HATCHWAY_BIND": "127.0.0.1:9002, 127.0.0.1:9003"}
    values, sources = _settle(["--max-requests", "300"], env)
    assert (values["max_requests"], sources["max_requests"]) == (300, "command line")
    assert (values["threads"], sources["threads"]) == (6, "environment")
    assert values["bind"] == ["127.0.0.1:9002", "127.0.0.1:9003"]
    assert (values["workers"], sources["workers"]) == (3, "config file")
    assert values["reuse_port"] is True and values["health_path"] == "/-/ready"
    assert (values["graceful_timeout"], sources["graceful_timeout"]) == (30.0, "default")
    cfg = server_config(values)
    assert (cfg.threads, cfg.max_requests, cfg.health_path) == (6, 300, "/-/ready")


@pytest.mark.slow
def test_every_option_comes_from_each_source(tmp_path):
    samples = {"list": ("a", ["a"]), "flag": ("true", True)}
    for opt in TUNABLES:
        if opt.dest == "config":
            continue
        raw, expected = samples.get(opt.kind, (None, None))
        if raw is None:
            special = {"health_path": "/x", "forwarded_allow_ips": "10.0.0.7", "proxy_allow_ips": "10.0.0.8",
                       "access_log_format": "json", "metrics_bind": "127.0.0.1:9100"}
            raw = opt.choices[0] if opt.choices else special.get(opt.dest, "7")
            expected = opt.type(raw)
        if opt.kind == "list" and opt.dest == "fd":
            raw, expected = "7", [7]
        values, sources = _settle([], {opt.env: raw})
        assert (values[opt.dest], sources[opt.dest]) == (expected, "environment"), opt.dest


def test_bad_values_are_one_line_errors(tmp_path):
    with pytest.raises(SettingsError, match=r"environment variable HATCHWAY_WORKERS: expected a whole number"):
        _settle([], {"HATCHWAY_WORKERS": "many"})
    toml = tmp_path / "c.toml"
    toml.write_text("no_such_thing = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'no_such_thing'"):
        _settle(["--config", str(toml)])
    toml.write_text("workers = [\n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        _settle(["--config", str(toml)])


def test_config_file_drives_a_real_server(start_server, pid_app, kit, workdir):
    (workdir / "hatchway.toml").write_text('[hatchway]\nworkers = 2\nhealth-path = "/-/ready"\n')
    srv = start_server("--config", "hatchway.toml").ready(workers=2)
    assert kit.get(srv.port, "/-/ready")[0] == 200
    assert len(srv.children()) == 2


def test_docs_hold_the_generated_options_table():
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert options_table() in doc, "regenerate the table: python -c 'from hatchway.cli import options_table; " \
                                   "print(options_table())'"
