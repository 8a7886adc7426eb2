"""Settings: embedded defaults, YAML file, environment, and clear errors."""

import pytest

from modelarena.config import load_settings


def test_defaults_serve_both_bundled_models_on_loopback(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELARENA_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert [m.name for m in settings.models] == ["smollm2-135m-instruct", "gemma-3-270m"]
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.database_url == f"sqlite:///{tmp_path / 'modelarena.db'}"


def test_file_then_environment_then_flags(monkeypatch, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("port: 9001\nrate_limit_rpm: 5\nhost: 0.0.0.0\n")
    monkeypatch.setenv("MODELARENA_PORT", "9002")
    settings = load_settings(config, host="127.0.0.2")
    assert settings.port == 9002 and settings.rate_limit_rpm == 5 and settings.host == "127.0.0.2"


def test_user_model_overrides_a_default_of_the_same_name(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "models:\n"
        "  - {name: gemma-3-270m, path: /x.gguf, chat_template: 'T'}\n"
        "  - {name: gpt-x, engine: openai, base_url: 'http://h/v1', api_key_env: K}\n"
    )
    settings = load_settings(config)
    assert [m.name for m in settings.models] == ["smollm2-135m-instruct", "gemma-3-270m", "gpt-x"]
    assert settings.model("gemma-3-270m").path == "/x.gguf"


def test_api_keys_from_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("MODELARENA_API_KEYS", "k1, k2")
    assert load_settings().api_keys == ["k1", "k2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [{name: a, engine: openai}]", "needs `base_url`"),
        ("models: [{name: a}]", "needs `path`"),
        ("models: [{name: a, path: /x}, {name: a, path: /y}]", "repeated: a"),
        ("bogus_field: 1", "bogus_field"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, message):
    config = tmp_path / "c.yaml"
    config.write_text("include_default_models: false\n" + text)
    with pytest.raises(ValueError, match=message):
        load_settings(config)


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(ValueError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")
