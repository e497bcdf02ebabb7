"""The files `make` writes beside OUT.mp4, one exporter a module: `otio` (OpenTimelineIO
timeline), `storyboard` (HTML page), `credits` (plain text), `subtitles` (SRT). The manifest itself
is written by `generate.manifest`.

Every writer takes the manifest dict (keys in DESIGN.md, "Manifest"; the exact contract is the
`Manifest` model of `generate.manifest`) and writes exactly the `path` it is given, in UTF-8,
non-atomically: the caller passes temporary names and renames them all at the end, so a failed
`make` leaves no partial outputs. The writers never infer anything from `path` (an OTIO file may
be written to ``.OUT.otio.1234.tmp``). The `*_text` / `*_html` / `build_timeline` functions
return the content without writing. A new exporter is one more module here, called from
`record.write_outputs`.
"""
