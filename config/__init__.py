"""Configuration: pydantic settings (`config.settings`), the YAML + environment loader
(`config.loader`), profiles (`paper.yaml`, the default; `live.example.yaml`) and the checker
(`python -m config.check --config PATH`). No Ray here.

    from config import load_config, exit_on_config_error
    with exit_on_config_error():          # prints one line and exits 2 on a bad configuration
        settings = load_config(path)      # path None: $LT_CONFIG, else config/paper.yaml
"""

from config.loader import ConfigError, api_key_env_name, exit_on_config_error, load_config
from config.settings import AppSettings, ChildSpec, StrategyConfig

__all__ = [
    "AppSettings",
    "ChildSpec",
    "ConfigError",
    "StrategyConfig",
    "api_key_env_name",
    "exit_on_config_error",
    "load_config",
]
