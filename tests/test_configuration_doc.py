"""docs/configuration.md prints the table `xp config table` builds from the settings' definitions."""

from pathlib import Path

from typer.testing import CliRunner

from xpollinate.cli.config import settings_table
from xpollinate.cli.main import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_the_documented_table_is_the_settings_table() -> None:
    assert settings_table() in DOC.read_text(encoding="utf-8"), "run `xp config table` into docs/configuration.md"
    for name in ("XP_LLM_JUDGE", "XP_LLM_EVALUATOR", "api_key_env", "XP_ADMIN_TOKEN"):
        assert f"`{name}`" in settings_table()


def test_config_show_hides_keys_and_urls(tmp_path: Path) -> None:
    config = tmp_path / "xp.toml"
    config.write_text('[llm]\njudge = "srv:m"\n[llm.endpoints.srv]\nbase_url = "http://u:p@10.0.0.1:8000/v1"\n')
    env = {"XP_CONFIG": str(config), "OPENAI_API_KEY": "sk-hidden-key", "XP_LLM": "local-small"}
    result = CliRunner().invoke(app, ["config", "show", "--json", "-"], env=env)
    assert result.exit_code == 0, result.output
    assert "sk-hidden-key" not in result.output and "u:p@" not in result.output
    assert '"judge": "srv:m"' in result.output and '"openai_api_key": "set (hidden)"' in result.output
