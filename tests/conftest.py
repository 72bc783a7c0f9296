import os
import pytest

@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    "Every test gets its own REGX_HOME and no REGX_DATA, so nothing leaks between tests or into ~/.regx."
    monkeypatch.setenv('REGX_HOME', str(tmp_path / 'regx_home'))
    monkeypatch.delenv('REGX_DATA', raising=False)
    monkeypatch.setenv('REGX_DEVICE', 'cpu')
    yield
