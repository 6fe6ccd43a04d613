from __future__ import annotations

from pathlib import Path

import pytest

from xpollinate.llm import LLMConfigError, LLMSpec, RoleModels, get_llm, load_settings, parse_spec, role_llms
from xpollinate.llm.settings import public_url


def test_default_is_the_embedded_local_model() -> None:
    assert parse_spec(load_settings().llm) == LLMSpec("local", "qwen2.5-coder-1.5b-instruct-q4_k_m")
    assert parse_spec("local-small") == LLMSpec("local", "smollm2-135m-instruct")
    assert parse_spec("openai") == LLMSpec("openai", "gpt-4o")


def test_precedence_argument_env_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "xp.toml"
    config.write_text(
        '[llm]\nllm = "anthropic:claude-haiku-4-5"\nthreads = 3\n[llm.prices."openai:my-model"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n'
    )
    monkeypatch.setenv("XP_CONFIG", str(config))
    s = load_settings()
    assert (s.llm, s.threads) == ("anthropic:claude-haiku-4-5", 3)
    assert parse_spec("openai:my-model", s) == LLMSpec("openai", "my-model")  # priced in the config file
    monkeypatch.setenv("XP_LLM", "local-small")
    monkeypatch.setenv("XP_LLM_THREADS", "1")
    s = load_settings()
    assert (s.llm, s.threads) == ("local-small", 1)
    assert load_settings("openai:gpt-4o-mini").llm == "openai:gpt-4o-mini"  # --llm wins


def test_config_file_in_run_directory_and_bad_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XP_HOME", str(home))
    (home / "config.toml").write_text("[llm]\nmax_retries = 7\n")
    assert load_settings().max_retries == 7
    monkeypatch.setenv("XP_LLM_MAX_RETRIES", "many")
    with pytest.raises(LLMConfigError, match="max_retries"):
        load_settings()
    (home / "config.toml").write_text('[llm]\nopenai_api_key = "sk-secret"\n')
    with pytest.raises(LLMConfigError, match="API keys do not belong in the config file"):
        load_settings()


def test_unknown_provider_or_local_model_lists_the_valid_ones_and_an_unpriced_model_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(LLMConfigError, match="valid providers: local, local-small, openai, anthropic, langchain"):
        parse_spec("gemini:pro")
    with pytest.raises(LLMConfigError, match="valid models: qwen2.5-coder-1.5b-instruct-q4_k_m, smollm2-135m-instruct"):
        parse_spec("local:llama-70b")
    with caplog.at_level("WARNING"):
        assert parse_spec("openai:gpt-17") == LLMSpec("openai", "gpt-17")
        assert parse_spec("anthropic:claude-2") == LLMSpec("anthropic", "claude-2")
    assert caplog.text.count("has no price") == 2 and "gpt-4o-mini" in caplog.text and "unpriced" in caplog.text
    with pytest.raises(LLMConfigError, match="langchain:MODULE:NAME"):
        parse_spec("langchain:ChatOllama")


def test_any_model_is_allowed_on_an_openai_compatible_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    s = load_settings()
    assert parse_spec("openai:llama3.2:3b", s) == LLMSpec("openai", "llama3.2:3b")
    llm = get_llm("openai:llama3.2:3b", s, cache=False)  # no key needed for a local server
    assert llm.provider.describe()["endpoint"] == "http://127.0.0.1:9/v1"


def test_missing_api_key_names_the_variable() -> None:
    with pytest.raises(LLMConfigError, match="set the environment variable OPENAI_API_KEY"):
        get_llm("openai:gpt-4o-mini", cache=False)
    with pytest.raises(LLMConfigError, match="set the environment variable ANTHROPIC_API_KEY"):
        get_llm("anthropic:claude-haiku-4-5", cache=False)


def test_secrets_stay_out_of_settings_and_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://user:pass@llm.example.com/v1/?token=abc")
    llm = get_llm("openai:gpt-4o-mini", cache=False)
    described = repr(llm.settings) + repr(llm.provider.describe())
    assert "sk-very-secret" not in described and "pass" not in described and "abc" not in described
    assert public_url("https://user:pass@llm.example.com:8443/v1/?token=abc") == "https://llm.example.com:8443/v1"


ENDPOINTS = """
[llm]
judge = "judgesrv:big-judge"
[llm.endpoints.judgesrv]
base_url = "http://127.0.0.1:9/v1"
api_key_env = "JUDGESRV_KEY"
response_format = "json_object"
[llm.endpoints.ollama]
base_url = "http://127.0.0.1:11434/v1"
model = "llama3.2:3b"
"""


def test_named_endpoints_resolve_to_their_server_and_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "xp.toml"
    config.write_text(ENDPOINTS)
    monkeypatch.setenv("XP_CONFIG", str(config))
    s = load_settings()
    assert parse_spec("judgesrv:big-judge", s) == LLMSpec("openai", "big-judge", endpoint="judgesrv")
    assert str(parse_spec("ollama", s)) == "ollama:llama3.2:3b"  # the endpoint's own model
    with pytest.raises(LLMConfigError, match="set the environment variable JUDGESRV_KEY"):
        get_llm("judgesrv:big-judge", s, cache=False)
    monkeypatch.setenv("JUDGESRV_KEY", "sk-judge-secret")
    llm = get_llm("judgesrv:big-judge", load_settings(), cache=False)
    assert str(llm.spec) == "judgesrv:big-judge"
    assert llm.provider.describe() == {"endpoint": "http://127.0.0.1:9/v1", "response_format": "json_object"}
    assert llm.provider.client.api_key == "sk-judge-secret"  # type: ignore[attr-defined]
    shown = repr(llm.settings) + repr(llm.identity()) + repr(llm.settings.model_dump())
    assert "sk-judge-secret" not in shown
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    keyless = get_llm("ollama", load_settings(), cache=False)  # no api_key_env: no key, and never OpenAI's
    assert keyless.provider.client.api_key == "sk-no-key-required"  # type: ignore[attr-defined]
    assert keyless.identity()["backend"]["endpoint"] == "http://127.0.0.1:11434/v1"


def test_endpoint_errors_name_the_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "xp.toml"
    monkeypatch.setenv("XP_CONFIG", str(config))
    config.write_text('[llm.endpoints.openai]\nbase_url = "http://x/v1"\n')
    with pytest.raises(LLMConfigError, match="endpoint names must differ from the providers"):
        load_settings()
    config.write_text('[llm.endpoints.srv]\nbase_url = "http://x/v1"\napi_key = "sk-oops"\n')
    with pytest.raises(LLMConfigError, match=r"API keys do not belong in the config file \(endpoints.srv.api_key\)"):
        load_settings()
    config.write_text('[llm.endpoints.srv]\nbase_url = "http://x/v1"\nresponse_format = "xml"\n')
    with pytest.raises(LLMConfigError, match="endpoints.srv.response_format"):
        load_settings()
    config.write_text('[llm.endpoints.srv]\nbase_url = "http://x/v1"\n')
    with pytest.raises(LLMConfigError, match=r"name the model, srv:MODEL"):
        parse_spec("srv", load_settings())
    with pytest.raises(LLMConfigError, match="endpoints in the config file: srv"):
        parse_spec("vlm:qwen", load_settings())
    config.write_text("[llm]\nthreds = 2\n")
    with pytest.raises(LLMConfigError, match="threds: Extra inputs are not permitted"):
        load_settings()


def test_a_model_per_role_from_flags_env_and_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "xp.toml"
    config.write_text(ENDPOINTS)
    monkeypatch.setenv("XP_CONFIG", str(config))
    monkeypatch.setenv("JUDGESRV_KEY", "k")
    qwen, smol = "local:qwen2.5-coder-1.5b-instruct-q4_k_m", "local:smollm2-135m-instruct"
    assert RoleModels().resolve() == {"generator": qwen, "evaluator": qwen, "judge": "judgesrv:big-judge"}
    monkeypatch.setenv("XP_LLM_EVALUATOR", "local-small")
    assert RoleModels("ollama").resolve() == {
        "generator": "ollama:llama3.2:3b",
        "evaluator": smol,
        "judge": "judgesrv:big-judge",
    }
    flags = RoleModels("local-small", "ollama:qwen3", "local")  # flags win over env and file
    assert flags.resolve() == {"generator": smol, "evaluator": "ollama:qwen3", "judge": qwen}
    models = role_llms(RoleModels("ollama", "ollama:llama3.2:3b", "judgesrv:big-judge"), cache=False)
    assert models["generator"] is models["evaluator"]  # one client for roles on the same model
    assert str(models["judge"].spec) == "judgesrv:big-judge" and models["judge"] is not models["generator"]
