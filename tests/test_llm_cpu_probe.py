"""The extra-buffer probe: no probe without AMX; a crashing probe turns extra buffers off, once per machine."""

from __future__ import annotations

import json
from pathlib import Path

from agent.llm import cpu_probe


def test_no_amx_needs_no_probe(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cpu_probe, "_cpu_signature", lambda: ("Some CPU", {"avx2", "fma"}))
    assert cpu_probe.extra_buffers_work(tmp_path / "m.gguf", tmp_path / "cache") is True
    assert not (tmp_path / "cache").exists()


def test_a_crashing_probe_is_cached_as_not_working(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(cpu_probe, "_cpu_signature", lambda: ("AMX CPU", {"avx512f", "amx_tile"}))
    monkeypatch.setattr(cpu_probe, "PROBE", "import os; os.abort()")  # dies like the real crash: no traceback
    cache = tmp_path / "cache"
    assert cpu_probe.extra_buffers_work(tmp_path / "m.gguf", cache) is False
    assert "AMX" in capsys.readouterr().err
    [saved] = list(cache.glob("cpu-extra-buffers-*.json"))
    assert json.loads(saved.read_text())["works"] is False
    monkeypatch.setattr(cpu_probe, "PROBE", "print('ok')")  # a cached answer is not probed again
    assert cpu_probe.extra_buffers_work(tmp_path / "m.gguf", cache) is False


def test_a_working_probe_keeps_extra_buffers(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cpu_probe, "_cpu_signature", lambda: ("AMX CPU 2", {"amx_tile"}))
    monkeypatch.setattr(cpu_probe, "PROBE", "print('ok')")
    assert cpu_probe.extra_buffers_work(tmp_path / "m.gguf", tmp_path / "cache") is True
