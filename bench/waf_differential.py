#!/usr/bin/env python3
"""The WAF's differential harness: the same attack and benign corpora, in the
same four positions (query, path, header, JSON body), through our gateway and
through one or more reference engines (nginx + ModSecurity + OWASP CRS at a
paranoia level); a table per attack group of what each blocks, and the benign
inputs each refuses.

usage: waf_differential.py --gateway URL --token TOKEN [--reference NAME=URL ...]
                           [--corpus DIR] [--split train|test|all] [--list]

Blocked means: our gateway's 403 from the WAF; a reference's 403. Requests go
out as raw HTTP/1.1, so no client library normalizes the path first.
"""

import argparse
import json
import pathlib
import socket
import sys
import urllib.parse
from collections import defaultdict

POSITIONS = ("query", "path", "header", "body")


def load(path, split):
    entries = []
    # Split on \n only: payloads hold U+2028 and other characters splitlines() breaks at.
    for line in pathlib.Path(path).read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        entry = json.loads(line)
        if split == "all" or entry.get("split") == split:
            entries.append((entry.get("group", entry.get("kind", "text")), entry["payload"]))
    return entries


def encode(text):
    return urllib.parse.quote(text, safe="")


def header_value(text):
    if all(c == "\t" or 0x20 <= ord(c) < 0x7F for c in text):
        return text
    return encode(text)


def request(position, payload, token, n):
    """The raw request carrying `payload` in `position`."""
    if position == "user-agent":
        return f"GET /api/tags HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\nuser-agent: {payload}\r\n\r\n".encode()
    head = "host: localhost\r\nconnection: close\r\nuser-agent: waf-differential\r\n"
    if position == "query":
        return f"GET /api/articles?tag={encode(payload)} HTTP/1.1\r\n{head}\r\n".encode()
    if position == "path":
        return f"GET /api/profiles/{encode(payload)} HTTP/1.1\r\n{head}\r\n".encode()
    if position == "header":
        # Referer: a header every engine inspects (CRS reads few others).
        value = header_value(payload)
        return f"GET /api/tags HTTP/1.1\r\n{head}referer: {value}\r\n\r\n".encode()
    body = json.dumps(
        {"article": {"title": f"differential {n}", "description": "d", "body": payload, "tagList": []}}
    ).encode()
    return (
        f"POST /api/articles HTTP/1.1\r\n{head}authorization: Token {token}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


def send(url, raw):
    host, port = urllib.parse.urlsplit(url).netloc.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(raw)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks).decode("utf-8", "replace")
    head, _, body = answer.partition("\r\n\r\n")
    parts = head.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, body


def blocked(engine, status, body):
    if engine == "ours":
        return status == 403 and "web application firewall" in body
    return status == 403


def run(engines, entries, token, offset):
    """{engine: {(group, payload, position): blocked}}"""
    verdicts = defaultdict(dict)
    for n, (group, payload) in enumerate(entries):
        # A benign markdown text is an article body, and only that; a
        # scanner is known by its user agent.
        positions = {"markdown": ("body",), "scanners": ("user-agent",)}.get(group, POSITIONS)
        for position in positions:
            raw = request(position, payload, token, offset + n)
            for name, url in engines.items():
                status, body = send(url, raw)
                verdicts[name][(group, payload, position)] = blocked(name, status, body)
    return verdicts


def pct(part, whole):
    return f"{100.0 * part / whole:.0f}%" if whole else "-"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--reference", action="append", default=[], help="NAME=URL")
    parser.add_argument(
        "--corpus", default=str(pathlib.Path(__file__).resolve().parent.parent / "crates/gateway/tests/waf-corpus")
    )
    parser.add_argument("--split", default="test", choices=["train", "test", "all"])
    parser.add_argument("--list", action="store_true", help="list every disagreement")
    args = parser.parse_args()

    engines = {"ours": args.gateway}
    for ref in args.reference:
        name, _, url = ref.partition("=")
        engines[name] = url
    refs = [n for n in engines if n != "ours"]
    attacks = load(pathlib.Path(args.corpus) / "attacks.jsonl", args.split)
    benign = load(pathlib.Path(args.corpus) / "benign.jsonl", args.split)
    a = run(engines, attacks, args.token, 0)
    b = run(engines, benign, args.token, 100_000)

    print(f"corpus: {args.corpus} (split: {args.split}); {len(attacks)} attacks, {len(benign)} benign, "
          f"each in {len(POSITIONS)} positions")
    print()
    header = ["group", "requests", "ours"] + refs
    for ref in refs:
        header += [f"both ({ref})", f"only {ref}", f"only ours (vs {ref})"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    groups = sorted({g for g, _ in attacks})
    for group in groups + ["all"]:
        keys = [k for k in a["ours"] if group == "all" or k[0] == group]
        row = [group, str(len(keys)), pct(sum(a["ours"][k] for k in keys), len(keys))]
        row += [pct(sum(a[r][k] for k in keys), len(keys)) for r in refs]
        for r in refs:
            both = sum(a["ours"][k] and a[r][k] for k in keys)
            only_ref = sum(a[r][k] and not a["ours"][k] for k in keys)
            only_ours = sum(a["ours"][k] and not a[r][k] for k in keys)
            row += [str(both), str(only_ref), str(only_ours)]
        print("| " + " | ".join(row) + " |")
    print()
    print("| benign inputs refused | " + " | ".join(engines) + " |")
    print("|---|" + "---|" * len(engines))
    for position in POSITIONS + ("all",):
        keys = [k for k in b["ours"] if position == "all" or k[2] == position]
        print(f"| {position} ({len(keys)}) | "
              + " | ".join(f"{sum(b[e][k] for k in keys)} ({pct(sum(b[e][k] for k in keys), len(keys))})"
                           for e in engines) + " |")
    missed = sorted(k for k in a["ours"] if not a["ours"][k] and any(a[r][k] for r in refs))
    print()
    print(f"attacks a reference blocks and ours does not: {len(missed)}")
    ours_fp = sorted(k for k in b["ours"] if b["ours"][k])
    print(f"benign inputs ours refuses: {len(ours_fp)}")
    if args.list:
        for group, payload, position in missed:
            by = ",".join(r for r in refs if a[r][(group, payload, position)])
            print(f"  missed [{group} {position}, blocked by {by}]: {payload!r}")
        for group, payload, position in ours_fp:
            print(f"  refused [{position}]: {payload!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
