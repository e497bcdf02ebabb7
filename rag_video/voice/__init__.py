"""Text to speech behind one small interface (:class:`Voice`), with engines by name.

Light to import (numpy only): engines load their libraries when a voice is opened.
"""

from rag_video.voice.base import (
    DEFAULT_VOICE,
    EngineInfo,
    Speech,
    Voice,
    VoiceError,
    VoiceInfo,
    Voices,
    VoiceUnavailable,
    WordTiming,
    get_voice,
    list_voices,
)

__all__ = [
    "DEFAULT_VOICE",
    "EngineInfo",
    "Speech",
    "Voice",
    "VoiceError",
    "VoiceInfo",
    "VoiceUnavailable",
    "Voices",
    "WordTiming",
    "get_voice",
    "list_voices",
]
