#!/usr/bin/env python3
"""probe test, run inside rdma-vm: `farlink probe --json` lists rxe0 and rxe1
with their GIDs and MTU, each on the netdev the harness put it on, and
`farlink probe $SITE_B_IP` picks the route's device.

Usage: probe_check.py FARLINK_BINARY
"""
import ipaddress
import json
import os
import subprocess
import sys

NETDEV = {"rxe0": ("vA", "10.77.0.1"), "rxe1": ("vB", "10.77.0.2")}


def fail(msg):
    print(f"probe: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def run_json(*args):
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    sys.stderr.write(res.stderr)
    if res.returncode != 0:
        fail(f"{' '.join(args)} exited with {res.returncode}")
    try:
        return json.loads(res.stdout)
    except json.JSONDecodeError as e:
        fail(f"{' '.join(args)} printed no valid JSON ({e}): {res.stdout[:400]!r}")


def check_devices(rep):
    if not rep["rdma"]["built"]:
        # As conformance-verbs: a build without the verbs datapath (-Dverbs=
        # disabled) has nothing to probe; say so and skip.
        print("probe: SKIP: farlink was built without rdma-core: " + rep["rdma"].get("error", ""))
        sys.exit(77)
    devs = {d["name"]: d for d in rep["rdma"]["devices"]}
    ifs = {i["name"]: i for i in rep["interfaces"]}
    for name, (ndev, ip) in NETDEV.items():
        if name not in devs:
            fail(f"{name} missing; probe listed {sorted(devs)}")
        port = devs[name]["ports"][0]
        if port["state"] != "ACTIVE":
            fail(f"{name} port 1 is {port['state']}, expected ACTIVE")
        if port["link_layer"] != "Ethernet":
            fail(f"{name} link layer {port['link_layer']}, expected Ethernet")
        # RoCE on a 1500-byte netdev: the largest IB MTU that fits is 1024.
        if port["active_mtu"] != 1024:
            fail(f"{name} active MTU {port['active_mtu']}, expected 1024 on a 1500 netdev")
        gids = port["gids"]
        v4 = [g for g in gids if g["family"] == "ipv4"]
        if not any(g["gid"] == "::ffff:" + ip and g["type"] == "RoCE v2" for g in v4):
            fail(f"{name} has no RoCE v2 GID ::ffff:{ip}: {gids}")
        if any(g["ndev"] != ndev for g in gids):
            fail(f"{name} GIDs not all on {ndev}: {gids}")
        for g in gids:
            addr = ipaddress.IPv6Address(g["gid"])
            if (addr.ipv4_mapped is not None) != (g["family"] == "ipv4"):
                fail(f"{name} GID {g['gid']} family {g['family']} is wrong")
        if ifs.get(ndev, {}).get("mtu") != 1500 or not any(
                a.startswith(ip + "/") for a in ifs.get(ndev, {}).get("addresses", [])):
            fail(f"interface {ndev} should have MTU 1500 and {ip}: {ifs.get(ndev)}")
        print(f"probe: {name} ACTIVE MTU {port['active_mtu']} on {ndev}, "
              f"{len(gids)} GIDs incl. ::ffff:{ip} RoCE v2")


def check_path(farlink):
    # Nothing listens on the port: the RTT comes from refused TCP connects.
    rep = run_json(farlink, "probe", "--json", "-n", "5", "-p", "9", "--rate", "1gbit",
                   os.environ["SITE_B_IP"])
    path = rep["path"]
    t = path["transport"]
    # rdma_cm resolves siteB's address through vA, i.e. rxe0.
    if t.get("rdma_device") != "rxe0":
        fail(f"rdma_resolve_addr to siteB should give rxe0: {t}")
    if path["rtt"]["samples"] != 5 or not 0 < path["rtt"]["min_ms"] <= path["rtt"]["p99_ms"]:
        fail(f"implausible RTT summary: {path['rtt']}")
    m = rep["recommendation"]
    if m["lanes"] < 1 or m["window_bytes"] < m["bdp_bytes"]:
        fail(f"implausible recommendation: {m}")
    print(f"probe: auto -> {t['choice']} ({t['reason']}); rtt median "
          f"{path['rtt']['median_ms']:.3f} ms; 1 Gb/s needs {m['lanes']} lane(s)")


def main():
    farlink = sys.argv[1]
    check_devices(run_json(farlink, "probe", "--json"))
    check_path(farlink)


if __name__ == "__main__":
    main()
