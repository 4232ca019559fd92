"""`shardnet bench --quick` runs every workload on every server with every
load generator it is compared on (Linux, the engine, the engine through the
host interface; Linux loopback and two engines over the shm port), and writes
a JSON row for each with a rate and (for requests) latency percentiles. A smoke test of the instrument,
not a speed test: the figures are printed, never judged, here."""
import json
import os
import subprocess
import tempfile

import lab

lab.require_root()
binary = lab.binary_from_argv()
c = lab.Checks()

out = os.path.join(tempfile.mkdtemp(prefix="sn-bench-"), "bench.json")
r = subprocess.run([binary, "bench", "--quick", "--json", out], capture_output=True, text=True,
                   timeout=600)
print(r.stderr[-3000:])
print(r.stdout)
c.check(r.returncode == 0, f"shardnet bench --quick exits 0 (got {r.returncode})")
rows = json.load(open(out))["rows"] if os.path.exists(out) else []
combos = {(row["server"], row["client"]) for row in rows}
want = {("linux", "kernel"), ("shardnet", "kernel"), ("sn-host", "kernel"), ("linux", "stack"),
        ("shardnet", "stack"), ("loopback", "loopback"), ("shm", "shm")}
c.check(combos == want, f"every server with every load generator it is compared on: {sorted(combos)}")
c.check(len(rows) >= 50 and all(row.get("ok") for row in rows),
        f"{len(rows)} runs, each with results")
cg = json.load(open(out)).get("callgrind") if os.path.exists(out) else None
c.check(cg and cg["per_request"] > 0, f"callgrind counted the engine's instructions per RPC: {cg}")
rpc = [row for row in rows if row["workload"].startswith("rpc")]
c.check(rpc and all(0 < row["p50_us"] <= row["p99_us"] <= row["p999_us"] for row in rpc),
        "RPC rows carry ordered latency percentiles")
bulk = [row for row in rows if row["workload"].startswith(("upload", "download"))]
c.check(bulk and all(row["gbps"] > 0 for row in bulk), "bulk rows carry Gbit/s")
c.check("| rpc-1 |" in r.stdout, "the table is printed")
scale = json.load(open(out)).get("scale", []) if os.path.exists(out) else []
c.check({(row["server"], row["idle"]) for row in scale} ==
        {(s, n) for s in ("linux", "shardnet") for n in (1000, 10000)} and
        all(row.get("ok") and row["rate"] > 0 for row in scale),
        f"scale: RPC with 1,000 and 10,000 idle connections held open on both servers: "
        f"{[(row['server'], row['idle'], round(row.get('rate', 0))) for row in scale]}")
c.finish()
