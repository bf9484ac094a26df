#!/usr/bin/env python3
"""Assembles gpu-bundle/ from a TSN_WITH_CUDA=ON build (tools/gpu/prepare.sh calls this).

Copies the job binaries and the CUDA-labelled test executables (stripped), every shared library
they load that the GPU machine lacks (everything ldd resolves outside the excluded prefixes and
outside glibc / libstdc++ / libgcc), Open MPI's tree, and writes

  tests.json     the CUDA-labelled CTest tests as commands, with paths relative to the bundle
                 ({bundle}, {mpirun}) so that check.sh runs them on another machine without CTest
  manifest.json  versions, git commit, build date, file sizes
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

from fingerprint import file_digests

# Present on every Linux the bundle runs on (glibc, the compiler's runtime, zlib, which Python
# itself needs): never carried.
SYSTEM_LIBS = re.compile(
    r"^(ld-linux.*|linux-vdso.*|libc|libm|libdl|libpthread|librt|libutil|libresolv|libgcc_s|"
    r"libstdc\+\+|libz)\.so")


def ctest_cuda_tests(build):
    out = subprocess.run(["ctest", "--test-dir", build, "-L", "cuda", "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["tests"]


def relocate(arg, build, mpirun):
    """A CTest command argument as check.sh sees it: {bundle}/tests/X, {mpirun}."""
    if arg == mpirun:
        return "{mpirun}"
    tests = os.path.join(build, "tests") + os.sep
    if arg.startswith(tests):
        return "{bundle}/tests/" + arg[len(tests):]
    return arg


def test_manifest(build, mpirun):
    manifest, executables = [], set()
    for t in ctest_cuda_tests(build):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        command = [relocate(a, build, mpirun) for a in t["command"]]
        executables.update(a[len("{bundle}/tests/"):] for a in command
                           if a.startswith("{bundle}/tests/"))
        skip = props.get("SKIP_REGULAR_EXPRESSION", [])
        manifest.append({
            "name": t["name"],
            "command": command,
            "labels": props.get("LABELS", []),
            "skip_regex": skip if isinstance(skip, list) else [skip],
            "timeout_s": props.get("TIMEOUT", 300),
        })
    return manifest, sorted(executables)


def shared_libraries(binary, library_path):
    env = dict(os.environ, LD_LIBRARY_PATH=library_path)
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True, env=env).stdout
    libs = ldd_map(out)
    missing = [soname for soname, path in libs.items() if path is None]
    if missing:
        sys.exit(f"{binary}: {', '.join(missing)} not found (library path {library_path})")
    return libs


# LibTorch's CUDA side: a binary of the CUDA variant that does not load these would run on the
# CPU only, and the check would learn it only on the GPU machine.
CUDA_LIBS = ("libtorch_cuda.so", "libc10_cuda.so")


def ldd_map(ldd_output):
    """soname -> resolved path (None where ldd says 'not found') from ldd's output."""
    libs = {}
    for line in ldd_output.splitlines():
        m = re.match(r"\s*(\S+) => (not found|\S+)", line)
        if m:
            libs[m.group(1)] = None if m.group(2) == "not found" else m.group(2)
    return libs


def library_problems(binary, libs, allowed, needs_cuda):
    """What stops `binary` loading there: a library not found, or found somewhere the GPU
    machine does not have (anything outside `allowed` prefixes that is not a system library,
    e.g. the CUDA toolkit's lib64 or /usr/lib); CUDA libraries not linked."""
    problems = []
    for soname, path in sorted(libs.items()):
        if path is None:
            problems.append(f"{binary}: {soname} not found")
        elif not SYSTEM_LIBS.match(soname) and not os.path.realpath(path).startswith(allowed):
            problems.append(f"{binary}: {soname} resolves to {path}, which the GPU machine lacks")
    if needs_cuda:
        missing = [lib for lib in CUDA_LIBS if lib not in libs]
        if missing:
            problems.append(f"{binary}: not linked against {', '.join(missing)} (LibTorch's "
                            f"CUDA side): it would run on the CPU only")
    return problems


def verify(bundle, torch_dir, nvidia_dir):
    """Every carried program resolves each library exactly as env.sh makes the GPU machine
    search: the bundle, LibTorch's lib, the nvidia wheels' libs, then the system's own (no
    CUDA toolkit there). The programs that link LibTorch load its CUDA libraries."""
    search = [os.path.join(bundle, "lib"), os.path.join(bundle, "mpi", "lib"),
              os.path.join(torch_dir, "lib")]
    search += sorted(d for d in (os.path.join(nvidia_dir, n, "lib") for n in os.listdir(nvidia_dir))
                     if os.path.isdir(d))
    allowed = tuple(os.path.realpath(p) + os.sep for p in (bundle, torch_dir, nvidia_dir))
    with open(os.path.join(bundle, "manifest.json")) as f:
        binaries = json.load(f)["binaries"]
    env = {"PATH": os.environ.get("PATH", ""), "LD_LIBRARY_PATH": ":".join(search)}
    problems = []
    for rel in binaries:
        out = subprocess.run(["ldd", os.path.join(bundle, rel)], capture_output=True, text=True,
                             env=env).stdout
        libs = ldd_map(out)
        problems += library_problems(rel, libs, allowed, needs_cuda="libtorch.so" in libs)
    return problems


def copy_binary(src, dst):
    shutil.copy2(src, dst)
    subprocess.run(["strip", "--strip-unneeded", dst], check=True)


def assemble(args):
    bundle, build = args.bundle, args.build
    mpirun = os.path.join(args.mpi, "bin", "mpirun")
    tests, test_executables = test_manifest(build, mpirun)
    if not tests:
        sys.exit(f"{build}: no CUDA-labelled tests (configured with TSN_WITH_CUDA=ON?)")
    carried = {}
    with open(os.path.join(build, "gpu_check_programs.txt")) as f:  # tests/CMakeLists.txt
        programs = f.read().strip().split(";")
    for sub, names in (("bin", programs), ("tests", test_executables)):
        for name in names:
            src = os.path.join(build, sub, name)
            copy_binary(src, os.path.join(bundle, sub, name))
            carried[f"{sub}/{name}"] = src
    excluded = tuple(os.path.realpath(p) + os.sep for p in args.exclude)
    libs = {}
    for rel, src in carried.items():
        for soname, path in shared_libraries(src, args.library_path).items():
            real = os.path.realpath(path)
            if SYSTEM_LIBS.match(soname) or real.startswith(excluded):
                continue
            libs[soname] = real
    for soname, real in sorted(libs.items()):
        shutil.copy2(real, os.path.join(bundle, "lib", soname))
    # Our binaries need GLIBCXX_3.4.30 (g++ 12); env.sh puts this copy on the library path only
    # where the machine's own libstdc++ is older.
    os.makedirs(os.path.join(bundle, "lib", "fallback"), exist_ok=True)
    stdcxx = subprocess.run(["g++", "-print-file-name=libstdc++.so.6"], check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.copy2(os.path.realpath(stdcxx), os.path.join(bundle, "lib", "fallback", "libstdc++.so.6"))
    # Open MPI: programs and libraries; headers, man pages and docs stay behind.
    shutil.copytree(args.mpi, os.path.join(bundle, "mpi"), symlinks=True,
                    ignore=shutil.ignore_patterns("include", "man", "doc*", "*.a", "*.la"))

    with open(os.path.join(bundle, "tests.json"), "w") as f:
        json.dump(tests, f, indent=2)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    # Every tracked file as it is here (uncommitted edits included): the check compares the
    # tree it runs in with this.
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True,
                             check=True).stdout.split("\0")
    tracked = [f for f in tracked if f and os.path.isfile(f)]
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    sizes = {}
    for dirpath, _, files in os.walk(bundle):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                sizes[os.path.relpath(path, bundle)] = os.path.getsize(path)
    manifest = {
        "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit.strip() + ("+uncommitted" if dirty else ""),
        "tree": file_digests(".", tracked),
        "versions": dict(v.split("=", 1) for v in args.versions),
        "binaries": sorted(carried),
        "libraries": sorted(libs),
        "tests": [t["name"] for t in tests],
        "bytes": sum(sizes.values()),
        "largest_files": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:12]),
    }
    with open(os.path.join(bundle, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"[bundle] {len(carried)} programs, {len(libs)} libraries, {len(tests)} CUDA tests, "
          f"{manifest['bytes'] / 2**20:.1f} MiB")
    if args.torch_dir:
        problems = verify(bundle, args.torch_dir, args.nvidia_dir)
        if problems:
            sys.exit("[bundle] would not load on the GPU machine:\n  " + "\n  ".join(problems))
        print("[bundle] every program resolves its libraries as the GPU machine will search "
              "them, and links LibTorch's CUDA libraries")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assemble")
    a.add_argument("--build", required=True)
    a.add_argument("--bundle", required=True)
    a.add_argument("--mpi", required=True)
    a.add_argument("--exclude", action="append", default=[])
    a.add_argument("--library-path", required=True)
    a.add_argument("--versions", nargs="*", default=[])
    a.add_argument("--torch-dir", help="the GPU machine's LibTorch (verify against it)")
    a.add_argument("--nvidia-dir", help="its nvidia wheels (nccl, cuda_runtime, ...)")
    args = parser.parse_args()
    assemble(args)


if __name__ == "__main__":
    main()
