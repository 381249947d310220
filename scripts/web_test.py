#!/usr/bin/env python3
"""The WebGPU build in a real browser (issue 17, part 4), end to end:

1. builds `examples/web` for wasm32-unknown-unknown and its JS glue with `wasm-bindgen`;
2. runs the same case natively on the f64 reference (`cargo run --example web_native`);
3. serves `examples/web/` on 127.0.0.1 and opens it in headless Chromium with WebGPU on its
   SwiftShader adapter; the page runs a segloss plan (value and gradient) on WebGPU, shows the
   result and posts it to /result;
4. compares the two: for a binary and a multiclass (class map) plan, every value and the
   gradient's norm within 1e-5 relative.

Exit status 0 only if the page answered in time and the numbers agree; every failure says
which step failed. Needs: the wasm32 target, wasm-bindgen-cli 0.2.130 (the version pinned in
examples/web/Cargo.toml) and Chromium (`.ci/run` installs them).

    python3 scripts/web_test.py [--chromium chromium] [--timeout 180]
"""
import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(ROOT, "examples", "web")
REL = 1e-5


def fail(msg):
    print(f"web_test: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=kw.pop("cwd", ROOT), text=True, stdout=subprocess.PIPE, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {r.returncode}")
    return r.stdout


def build(target_dir):
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
    run(["cargo", "build", "--release", "--target", "wasm32-unknown-unknown"], cwd=WEB, env=env)
    wasm = os.path.join(target_dir, "wasm32-unknown-unknown", "release", "segloss_web.wasm")
    if shutil.which("wasm-bindgen") is None:
        fail("wasm-bindgen is not installed (cargo install wasm-bindgen-cli --version 0.2.130)")
    run(["wasm-bindgen", "--target", "web", "--no-typescript", "--out-dir", os.path.join(WEB, "pkg"), wasm])


def serve():
    """An http server of examples/web/ whose POST /result hands the body over."""
    got = {}
    done = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".js": "text/javascript"}

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=WEB, **kw)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            got["body"] = self.rfile.read(min(n, 1 << 20)).decode("utf-8", "replace")
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got, done


def close(a, b):
    return abs(a - b) <= REL * max(abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="chromium")
    ap.add_argument("--timeout", type=float, default=180.0)
    a = ap.parse_args()
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    build(target_dir)
    native = json.loads(run(["cargo", "run", "--release", "--quiet", "--example", "web_native"]).strip())
    if shutil.which(a.chromium) is None:
        fail(f"no browser '{a.chromium}' (apt-get install -y chromium)")
    server, got, done = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    profile = tempfile.mkdtemp(prefix="segloss-chromium-")
    cmd = [a.chromium, "--headless=new", "--no-sandbox", "--enable-unsafe-webgpu",
           "--use-webgpu-adapter=swiftshader", f"--user-data-dir={profile}", "--no-first-run", url]
    print("+", " ".join(cmd), flush=True)
    browser = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        answered = done.wait(a.timeout)
    finally:
        try:
            os.killpg(browser.pid, 9)
        except ProcessLookupError:
            pass
        browser.wait()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    if not answered:
        fail(f"the page did not post a result within {a.timeout:.0f} s")
    web = json.loads(got["body"])
    print(f"browser (WebGPU): {got['body']}")
    print(f"native (f64):     {json.dumps(native)}")
    if "error" in web:
        fail(f"the page reported an error: {web['error']}")
    bad = []
    for case in ("binary", "multiclass"):
        w, n = web[case], native[case]
        if w["grad_len"] != n["grad_len"]:
            bad.append(f"{case}: gradient length {w['grad_len']} vs {n['grad_len']}")
        for key in ("total", "grad_norm"):
            if not close(w[key], n[key]):
                bad.append(f"{case}: {key} {w[key]} vs {n[key]}")
        if len(w["values"]) != len(n["values"]):
            bad.append(f"{case}: the number of values differs")
        for i, (a, b) in enumerate(zip(w["values"], n["values"])):
            if not close(a, b):
                bad.append(f"{case}: term {i} {a} vs {b}")
    if bad:
        fail("; ".join(bad))
    print(f"web_test: ok — adapter '{web['binary']['adapter']}': a binary and a multiclass plan, every term "
          f"and the gradient's norm within {REL:g} of the native f64 reference")


if __name__ == "__main__":
    main()
