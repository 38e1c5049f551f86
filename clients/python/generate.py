"""Generates the Python stubs of openloop's contract (proto/openloop) with grpcio-tools:
messages (*_pb2.py) and gRPC stubs (*_pb2_grpc.py), with type stubs for both (*.pyi, from
mypy-protobuf's plugins, installed next to this Python by examples/python/requirements.txt).

    python clients/python/generate.py [--out DIR]

DIR defaults to clients/python/src. Every subdirectory of DIR/openloop is generated and is
replaced; the files directly in DIR/openloop (the dial helper) are written by hand.
"""

import argparse
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / "proto"


def generate(out: pathlib.Path) -> None:
    import grpc_tools
    from grpc_tools import protoc

    package = out / "openloop"
    package.mkdir(parents=True, exist_ok=True)
    for child in package.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    plugins = pathlib.Path(sys.executable).parent
    for plugin in ("protoc-gen-mypy", "protoc-gen-mypy_grpc"):
        if not (plugins / plugin).exists():
            sys.exit(f"{plugins / plugin} is missing: pip install the mypy-protobuf of examples/python/requirements.txt")
    # Our own protos only: proto/grpc/* would shadow the grpc package itself.
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "openloop").rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out=quiet:{out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed to generate the Python stubs from proto/")
    # Regular packages (not namespace ones), so that type checkers and setuptools find them.
    for directory in sorted({p.parent for p in package.rglob("*.py")} | {p.parent.parent for p in package.rglob("*.py")}):
        if directory != package and package in directory.parents:
            (directory / "__init__.py").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "src")
    generate(parser.parse_args().out.resolve())


if __name__ == "__main__":
    main()
