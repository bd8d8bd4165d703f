"""Build the common layer with its bytecode: `sam build` runs it for Lambda (arm64) through
layers/common/Makefile, and `make layer` for this machine too, for the cold-start benchmark.

In Lambda the layer is read-only at /opt, so a module shipped without bytecode is compiled at every
cold start (about a quarter of a second of CPU for a function's imports). This build ships it:
- the requirements, installed for python3.13 on the target platform, as bytecode instead of their
  sources (a legacy `.pyc` where the `.py` was, which Python imports without a source), so the layer
  stays small;
- warmline with its sources beside its bytecode (tracebacks keep their lines).
The bytecode is "unchecked-hash": Python loads it without comparing it with a source's timestamp
(a zip's timestamps cannot be trusted). It must be built by python3.13, the runtime's version.

Usage: python3.13 layers/common/build_layer.py OUT_DIR [--platform lambda|local]
  OUT_DIR gets python/ (what Lambda puts on sys.path from /opt/python).
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

LAYER_SOURCE = Path(__file__).resolve().parent  # layers/common, or the copy sam build makes of it
PACKAGE = "warmline"
RUNTIME = (3, 13)
# pip's options for each target: Lambda's arm64 python3.13, or the interpreter running this script.
PLATFORMS = {
    "lambda": [
        "--platform=manylinux2014_aarch64",
        "--implementation=cp",
        "--python-version=3.13",
        "--only-binary=:all:",
    ],
    "local": ["--only-binary=:all:"],
}
UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH


def build(out_dir: Path, platform: str) -> Path:
    """The layer's python/ directory, built afresh in out_dir."""
    site = out_dir / "python"
    if site.exists():
        shutil.rmtree(site)
    _install_requirements(site, PLATFORMS[platform])
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: nothing in Lambda runs them
    for stub in site.rglob("*.pyi"):  # for type checkers only
        stub.unlink()
    # pip's install records and the build's software bills of materials: read by pip and scanners,
    # never at run time (METADATA and the licences stay).
    for record in site.glob("*.dist-info/RECORD"):
        record.unlink()
    for sbom in site.glob("*.dist-info/sboms"):
        shutil.rmtree(sbom)
    _compile_instead_of_sources(site)
    shutil.copytree(LAYER_SOURCE / PACKAGE, site / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    _compile(site / PACKAGE, legacy=False)
    return site


def _install_requirements(site: Path, platform_options: list[str]) -> None:
    print(f"==> installing {LAYER_SOURCE / 'requirements.txt'} into {site}", flush=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(site), *platform_options,
            "-r", str(LAYER_SOURCE / "requirements.txt"),
        ],
        check=True,
    )  # fmt: skip


def _compile_instead_of_sources(site: Path) -> None:
    print("==> compiling the requirements; their sources removed", flush=True)
    _compile(site, legacy=True)
    for source in site.rglob("*.py"):
        source.unlink()


def _compile(directory: Path, legacy: bool) -> None:
    compiled = compileall.compile_dir(
        directory, quiet=1, legacy=legacy, invalidation_mode=UNCHECKED, workers=0
    )
    if not compiled:
        raise SystemExit(f"error: compiling {directory} failed (see above)")


def size_mb(directory: Path) -> float:
    """The unpacked size as Lambda counts it: the sum of the files' sizes."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out_dir", type=Path, help="where python/ is built (sam build's ARTIFACTS_DIR)")
    parser.add_argument(
        "--platform",
        choices=sorted(PLATFORMS),
        default="lambda",
        help="lambda: Lambda's arm64 (the default); local: this machine",
    )
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        raise SystemExit(
            f"error: the layer's bytecode must be built by python3.13 (the Lambda runtime's), "
            f"not python{sys.version_info[0]}.{sys.version_info[1]}"
        )
    site = build(args.out_dir, args.platform)
    print(f"==> layer built in {site}: {size_mb(args.out_dir):.2f} MB unpacked", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
