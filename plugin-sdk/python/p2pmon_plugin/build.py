"""Build a Python plugin into a WebAssembly component for the p2pmon agent.

    python -m p2pmon_plugin.build SOURCE_DIR -o plugin.wasm [--module app] [--wit DIR]

SOURCE_DIR holds the plugin's module (``app.py`` by default, defining
``Guest = export(MyPlugin)``). componentize-py bundles it with this SDK and
CPython; the component imports WASI 0.2, which the agent provides with
nothing reachable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

SDK_DIR = Path(__file__).resolve().parent.parent


def default_wit() -> Path:
    return Path(os.environ.get("P2PMON_WIT", SDK_DIR.parent / "wit"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p2pmon_plugin.build", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with the plugin's module")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--module", default="app", help="the plugin's module name (default: app)")
    parser.add_argument("--wit", type=Path, default=default_wit(), help="folder of plugin.wit (default: the SDK's)")
    args = parser.parse_args(argv)
    if not (args.wit / "plugin.wit").is_file():
        parser.error(f"no plugin.wit in {args.wit} (give the contract's folder with --wit or P2PMON_WIT)")
    if not (args.source / f"{args.module}.py").is_file():
        parser.error(f"no {args.module}.py in {args.source}")
    tool = shutil.which("componentize-py") or str(Path(sys.executable).with_name("componentize-py"))
    partial = args.output.with_name(args.output.name + ".partial")
    command = [
        tool,
        "-d", str(args.wit),
        "-w", "plugin",
        "componentize",
        "-p", str(args.source),
        "-p", str(SDK_DIR),
        args.module,
        "-o", str(partial),
    ]
    done = subprocess.run(command)
    if done.returncode != 0:
        return done.returncode
    partial.replace(args.output)
    print(f"{args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
