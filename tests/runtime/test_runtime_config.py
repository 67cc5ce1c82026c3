"""dipflow.yaml loading: located errors, env references and overrides, password hashes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dipflow.runtime.config import ConfigError, DipflowConfig, RedisStoreSettings, load_config
from dipflow.runtime.passwords import hash_password, verify_password

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dipflow.yaml"

GOOD = """\
flows:
  - dnis: ["+18005550100"]
    flow: ms-dynamics-data-dip
  - dnis: "*"
    flow: flows/other.yaml
connectors:
  - name: dynamics
    kind: dataverse
    base_url: ${CRM_URL}
    app_id: 8a18ed00-21e1-ed11-a7c6-000d3a8bcaaa
center:
  queues:
    - name: Support
      teams: [support]
  agents:
    - agent_id: agent1
      name: Ava
      teams: [support]
users:
  - username: ava
    agent_id: agent1
    password_hash: HASH
web:
  port: 8080
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dipflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def good_text() -> str:
    return GOOD.replace("HASH", hash_password("pw", salt=b"0123456789abcdef"))


def test_example_file_loads() -> None:
    config = load_config(EXAMPLE, environ={"DYNAMICS_CLIENT_SECRET": "x"})
    served = config.binding_for("+18005550100")
    assert served.variables["QueueName"] == "Support"
    # The overrides name real variables of the bundled flow, with values of their types.
    from dipflow.engine import Engine
    from dipflow.flow.loader import load_flow
    from dipflow.runtime.runtime import resolve_flow_path

    for binding in config.flows:
        flow = load_flow(resolve_flow_path(binding.flow, config.base_dir))
        assert set(binding.variables) <= {v.name for v in flow.variables}
        Engine(flow, variables=binding.variables)
    assert config.binding_for("+19999999999").dnis == "*"
    assert config.store == "memory"


def _example_uncommented() -> str:
    """examples/dipflow.yaml with its commented-out settings switched on: each `# key: value`
    line, the lines that continue it (a flow mapping left open, a block under `# key:`),
    and the Redis store in place of `store: memory`."""
    setting = re.compile(r"\s*# [a-z_]+:( |$)")
    lines: list[str] = []
    within = ""  # "block": under a `# key:`; "flow": inside a `{` left open
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        uncommented = line.replace("# ", "", 1)
        opened = uncommented.count("{") - uncommented.count("}")
        if setting.match(line) and "session_secret: set " not in line:  # that one is prose
            within = "block" if uncommented.endswith(":") else "flow" if opened > 0 else ""
            line = uncommented
        elif within and re.match(r"\s*#  ", line):
            line = uncommented
            if within == "flow" and opened < 0:
                within = ""
        else:
            within = ""
        if line != "store: memory":
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_every_commented_setting_of_the_example_loads_and_shows_the_default(
    tmp_path: Path,
) -> None:
    text = _example_uncommented()
    assert "  phone_calls_per_source: 4" in text and '\n  prefix: "dipflow:"' in text
    environ = {"DYNAMICS_CLIENT_SECRET": "x"}
    on = load_config(write(tmp_path, text), environ=environ)
    assert on.connectors[0].web_client_url == "https://contoso.crm4.dynamics.com"
    assert isinstance(on.store, RedisStoreSettings)
    assert (on.store.url, on.store.prefix) == ("redis://127.0.0.1:6379/0", "dipflow:")
    # "defaults shown where commented": the example as shipped has the same web settings.
    shipped = load_config(EXAMPLE, environ=environ)
    assert shipped.web == on.web
    assert on.web.phone_calls_per_source == 4 and on.web.sessions.idle_timeout_s == 3600


def test_good_file_with_env_reference(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, good_text()), environ={"CRM_URL": "http://crm.test"})
    assert isinstance(config, DipflowConfig)
    assert config.connectors[0].base_url == "http://crm.test"
    assert config.base_dir == tmp_path.resolve()
    assert config.binding_for("+18005550100").flow == "ms-dynamics-data-dip"
    assert config.binding_for("anything").flow == "flows/other.yaml"


def test_wrong_type_is_located_at_its_line(tmp_path: Path) -> None:
    text = good_text().replace("port: 8080", "port: lots")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"CRM_URL": "http://crm.test"})
    (problem,) = info.value.problems
    assert problem.startswith(f"{tmp_path / 'dipflow.yaml'}:24:9: web.port")
    assert "integer" in problem


def test_unknown_key_and_missing_section_are_reported_together(tmp_path: Path) -> None:
    text = good_text().replace("web:\n  port: 8080\n", "webb:\n  port: 8080\n")
    text = text.replace("center:", "centre:")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"CRM_URL": "http://crm.test"})
    text_of = "\n".join(info.value.problems)
    assert ":23:1: webb: Extra inputs are not permitted" in text_of
    assert "center: Field required" in text_of


def test_missing_env_reference_names_the_variable_and_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, good_text()), environ={})
    assert info.value.problems == [
        f"{tmp_path / 'dipflow.yaml'}:9:15: connectors[0].base_url: "
        "environment variable CRM_URL is not set"
    ]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "flows:\n  - dnis: [a\n    flow: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.problems[0].startswith(f"{path}:")


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = good_text().replace("web:\n  port: 8080\n", "web:\n  port: 8080\n  port: 9090\n")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"CRM_URL": "http://crm.test"})
    assert info.value.problems == [
        f"{tmp_path / 'dipflow.yaml'}:25:3: duplicate key 'port' (first written on line 24)"
    ]


def test_clear_text_password_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("HASH", "hunter2")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={"CRM_URL": "http://crm.test"})
    (problem,) = info.value.problems
    assert ":22:20: users[0].password_hash:" in problem
    assert "hunter2" not in problem


def test_env_overrides_by_section_index_and_name(tmp_path: Path) -> None:
    environ = {
        "CRM_URL": "http://crm.test",
        "DIPFLOW_WEB__PORT": "9000",
        "DIPFLOW_WEB__SESSION_SECRET": "s3cret-value",
        "DIPFLOW_CONNECTORS__DYNAMICS__BASE_URL": "http://other.test",
        "DIPFLOW_USERS__0__ROLE": "supervisor",
        "DIPFLOW_STORE__URL": "redis://10.0.0.5:6379/1",
        "DIPFLOW_LOG_LEVEL": "DEBUG",  # not a section: left alone
        "DIPFLOW_DEMO_SECRET": "x",  # idem
    }
    config = load_config(write(tmp_path, good_text()), environ=environ)
    assert config.web.port == 9000
    assert config.web.session_secret is not None
    assert config.web.session_secret.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(config)
    assert config.connectors[0].base_url == "http://other.test"
    assert config.users[0].role == "supervisor"
    assert isinstance(config.store, RedisStoreSettings)
    assert config.store.url == "redis://10.0.0.5:6379/1"


def test_bad_override_names_the_variable(tmp_path: Path) -> None:
    environ = {"CRM_URL": "http://crm.test", "DIPFLOW_WEB__PORT": "not-a-port"}
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, good_text()), environ=environ)
    assert "web.port (set by DIPFLOW_WEB__PORT)" in info.value.problems[0]


def test_override_of_missing_list_item_is_an_error(tmp_path: Path) -> None:
    environ = {"CRM_URL": "http://crm.test", "DIPFLOW_USERS__NOBODY__ROLE": "agent"}
    with pytest.raises(ConfigError, match="DIPFLOW_USERS__NOBODY__ROLE"):
        load_config(write(tmp_path, good_text()), environ=environ)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml", environ={})


def test_unserved_dnis_is_a_lookup_error(tmp_path: Path) -> None:
    text = good_text().replace('  - dnis: "*"\n    flow: flows/other.yaml\n', "")
    config = load_config(write(tmp_path, text), environ={"CRM_URL": "http://crm.test"})
    with pytest.raises(LookupError):
        config.binding_for("+15550000000")


def test_password_hashes_verify() -> None:
    encoded = hash_password("correct horse")
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert not verify_password("correct horse", "scrypt$bad")
    assert hash_password("x") != hash_password("x")  # salted
