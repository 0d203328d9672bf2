#!/usr/bin/env python3
"""What a dhat heap profile held at its global peak (t-gmax), by allocation
site: the first frame that is the host's or a library's own code (allocator,
collection and std frames skipped), its bytes and blocks at the peak, and
bytes per held stream when given the number of streams held then.

Usage: bench/dhat-top.py dhat-heap.json [STREAMS] [TOP]
"""
import collections
import json
import re
import sys

path = sys.argv[1]
streams = int(sys.argv[2]) if len(sys.argv) > 2 and int(sys.argv[2]) > 0 else 0
top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
with open(path) as f:
    prof = json.load(f)
frames = prof["ftbl"]

# Frames that say where memory is allocated, not who wanted it.
plumbing = re.compile(
    r"(\b(alloc|core|std|dhat|hashbrown|bytes|indexmap|smallvec|serde_json::value|serde::de|serde_json::de"
    r"|<alloc|<core|<std|<hashbrown|<bytes|<smallvec|<indexmap)::|\[root\]|__rust|^0x[0-9a-f]+: \?\?\?)"
)


def site(pp):
    names = [frames[i] for i in pp["fs"]]
    for name in names:
        body = re.sub(r"^0x[0-9a-f]+: ", "", name)
        if not plumbing.search(body.split(" (")[0]):
            # Keep the function path, drop the generic parameters' noise.
            fn = re.sub(r"<[^<>]*>", "", body.split(" (")[0])
            fn = re.sub(r"<[^<>]*>", "", fn)
            where = re.search(r"\(([^()]*?):(\d+):\d+\)$", body)
            return f"{fn[:110]}" + (f"  [{where.group(1).split('/')[-1]}:{where.group(2)}]" if where else "")
    return re.sub(r"^0x[0-9a-f]+: ", "", names[0] if names else "?")[:120]


by = collections.defaultdict(lambda: [0, 0])
total = 0
for pp in prof["pps"]:
    gb = pp.get("gb", 0)
    if not gb:
        continue
    total += gb
    s = by[site(pp)]
    s[0] += gb
    s[1] += pp.get("gbk", 0)

print(f"heap at the global peak: {total / 2**20:.1f} MiB"
      + (f" ({total / streams / 1024:.1f} KiB per held stream, {streams} streams)" if streams else ""))
print(f"{'KiB':>9} {'blocks':>8} {'B/stream':>9}  site")
for name, (b, n) in sorted(by.items(), key=lambda kv: -kv[1][0])[:top]:
    per = f"{b / streams:9.0f}" if streams else " " * 9
    print(f"{b / 1024:9.0f} {n:8d} {per}  {name}")
