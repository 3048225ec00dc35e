"""Log redaction of the settings' secrets (defence in depth behind "never log a secret")."""

from __future__ import annotations

import logging
from pathlib import Path

from lifeboat_shared.settings import LifeboatSettings
from lifeboat_shared.telemetry.logging import configure_logging


def test_secret_values_never_reach_the_formatted_log(tmp_path: Path) -> None:
    settings = LifeboatSettings(
        api_token="tok-0123456789abcdef",
        database_url="postgresql+asyncpg://lb:pw-0123456789@db:5432/lb",
        data_dir=tmp_path,
    )
    assert set(settings.secret_values()) == {"tok-0123456789abcdef", "pw-0123456789"}
    log_file = tmp_path / "service.log"
    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging("test", file=log_file, redact=settings.secret_values())
    try:
        log = logging.getLogger("lifeboat.test.redaction")
        log.warning("connecting with %s", settings.database_url)
        try:
            raise RuntimeError("token tok-0123456789abcdef refused")
        except RuntimeError:
            log.exception("failed")
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
    text = log_file.read_text()
    assert "pw-0123456789" not in text and "tok-0123456789abcdef" not in text
    assert "lb:***@db" in text and "token *** refused" in text
