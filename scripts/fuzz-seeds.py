#!/usr/bin/env python3
"""Writes fuzz seeds for the kernel_responses target from the recorded
sessions: each session's card answers, each prefixed by its 2-byte length."""
import json, pathlib, struct

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "fuzz" / "seeds" / "kernel_responses"
out.mkdir(parents=True, exist_ok=True)
for path in sorted((root / "tests" / "sessions").rglob("*.session.json")):
    session = json.loads(path.read_text())
    blob = b""
    for x in session["exchanges"]:
        r = bytes.fromhex(x["r"].replace(" ", ""))
        blob += struct.pack(">H", len(r)) + r
    (out / (path.name.removesuffix(".session.json") + ".bin")).write_bytes(blob)
print(f"fuzz-seeds: wrote {len(list(out.iterdir()))} seeds to {out}")
