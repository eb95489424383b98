"""An api_key that is not a str is a ConfigurationError, not an AttributeError."""

from __future__ import annotations

import pytest

from bigmind_async import AsyncBigMind, ConfigurationError


@pytest.mark.parametrize("key", [12345, ["sk_live_x"]])
def test_non_str_api_key_is_a_configuration_error(key: object) -> None:
    """The type is named in the message."""
    expected = f"api_key: must be a str, got {type(key).__name__}"
    with pytest.raises(ConfigurationError, match=expected):
        AsyncBigMind(key, "http://127.0.0.1:1")  # type: ignore[arg-type]
