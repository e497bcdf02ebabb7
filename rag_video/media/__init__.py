"""Video bytes in and out: probe (what a file is), decode (the one ingest pass), encode.

Import the submodules directly (``from rag_video.media.decode import decode``); this package
imports nothing so that light users (subtitles, the CLI) do not load PyAV.
"""
