"""Shared test setup: offline, deterministic, and the tests folder importable (synth helpers)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAG_VIDEO_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).parent))

DATA = Path(__file__).parent / "data"
