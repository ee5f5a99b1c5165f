"""Settings: layer precedence, list parsing, key sources, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from exerciser.errors import ConfigError
from exerciser.settings import PRODUCTION_URL, load_settings, require_api_key


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_point_at_production_with_no_key() -> None:
    settings = load_settings({}, environ={})
    assert settings.api_base_url == PRODUCTION_URL
    assert settings.api_key is None
    assert settings.accounts == []
    assert settings.dry_run is False


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "concurrency = 3\nread_timeout = 7.5\npage_size = 50\n")
    env = {
        "EXERCISER_CONFIG": str(config),
        "EXERCISER_CONCURRENCY": "5",
        "EXERCISER_PAGE_SIZE": "60",
    }
    settings = load_settings({"concurrency": 9}, environ=env)
    assert settings.concurrency == 9  # flag
    assert settings.page_size == 60  # env over file
    assert settings.read_timeout == 7.5  # file over default
    assert settings.connect_timeout == 5.0  # default


def test_config_flag_beats_config_env(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", "concurrency = 3\n")
    b = write(tmp_path / "b.toml", "concurrency = 4\n")
    settings = load_settings({"config": b}, environ={"EXERCISER_CONFIG": str(a)})
    assert settings.concurrency == 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,2", [1, 2]), (" 7 , 8 ,", [7, 8]), ("[3, 4]", [3, 4]), ("", []), ("42", [42])],
    ids=["comma", "spaces", "json", "empty", "single"],
)
def test_accounts_from_env_accept_comma_and_json(raw: str, expected: list[int]) -> None:
    assert load_settings({}, environ={"EXERCISER_ACCOUNTS": raw}).accounts == expected


def test_accounts_from_toml_list(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "accounts = [11, 12]\n")
    assert load_settings({"config": config}, environ={}).accounts == [11, 12]


def test_every_problem_is_one_line_naming_source_field_and_value(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", 'read_timeout = "soon"\nbogus = 1\n')
    env = {"EXERCISER_ACCOUNTS": "1,x", "EXERCISER_API_BASE_URL": "http://broker.example"}
    with pytest.raises(ConfigError) as info:
        load_settings({"concurrency": 0, "config": config}, environ=env)
    problems = info.value.problems
    assert len(problems) == 5
    assert all("\n" not in p for p in problems)
    text = "\n".join(problems)
    assert "--concurrency: concurrency = 0: Input should be greater than or equal to 1" in text
    assert "EXERCISER_ACCOUNTS: accounts.1 = 'x'" in text
    assert "EXERCISER_API_BASE_URL: api_base_url = 'http://broker.example': plain http" in text
    assert f"{config}: read_timeout = 'soon'" in text
    assert f"{config}: bogus: unknown setting" in text


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "concurrency = = 3\n")
    with pytest.raises(ConfigError, match=r"c\.toml'?: invalid TOML: .*line 1"):
        load_settings({"config": config}, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({"config": tmp_path / "nope.toml"}, environ={})


def test_plain_http_is_allowed_to_loopback_only() -> None:
    local = load_settings({"api_base_url": "http://127.0.0.1:8181/"}, environ={})
    assert local.api_base_url == "http://127.0.0.1:8181"
    assert local.talks_to_simulator
    assert not load_settings({}, environ={}).talks_to_simulator


def test_api_key_from_env_is_secret() -> None:
    settings = load_settings({}, environ={"EXERCISER_API_KEY": "k-123"})
    assert require_api_key(settings).get_secret_value() == "k-123"
    assert "k-123" not in repr(settings)
    assert "k-123" not in str(settings.model_dump())


def test_api_key_from_file_strips_newline(tmp_path: Path) -> None:
    key = write(tmp_path / "key", "file-key\n")
    settings = load_settings({"api_key_file": key}, environ={})
    assert require_api_key(settings).get_secret_value() == "file-key"


def test_api_key_from_systemd_credentials_directory(tmp_path: Path) -> None:
    write(tmp_path / "api_key", "cred-key")
    settings = load_settings({}, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert require_api_key(settings).get_secret_value() == "cred-key"


def test_env_key_beats_key_file(tmp_path: Path) -> None:
    key = write(tmp_path / "key", "file-key")
    env = {"EXERCISER_API_KEY": "env-key", "EXERCISER_API_KEY_FILE": str(key)}
    assert require_api_key(load_settings({}, environ=env)).get_secret_value() == "env-key"


def test_unreadable_or_empty_key_file_is_an_error_without_content(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api_key_file: .*cannot read"):
        load_settings({"api_key_file": tmp_path / "missing"}, environ={})
    empty = write(tmp_path / "empty", "\n")
    with pytest.raises(ConfigError, match="file is empty"):
        load_settings({"api_key_file": empty}, environ={})


def test_invalid_key_value_is_never_echoed(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", "api_key = 12345\n")
    with pytest.raises(ConfigError) as info:
        load_settings({"config": config}, environ={})
    assert "12345" not in str(info.value)
    assert "api_key = '***'" in str(info.value)


def test_missing_key_says_how_to_provide_one() -> None:
    with pytest.raises(ConfigError, match=r"EXERCISER_API_KEY.*api_key_file.*LoadCredential"):
        require_api_key(load_settings({}, environ={}))
