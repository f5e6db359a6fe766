// Compile Python sources to CPython 3.12 bytecode for the Lambda python3.12 runtime.
//
// Lambda's code folders are read-only, so a package without .pyc files is compiled from
// source on every cold start (seconds for Powertools, pydantic and botocore). The build
// machine may have no Python 3.12; Pyodide (CPython 3.12 compiled to WebAssembly, from the
// npm registry) has the same compiler and the same magic number, so it writes the bytecode.
//
// Usage: node infra/bytecode.mjs compile <dir>...   writes __pycache__/*.cpython-312.pyc
//        node infra/bytecode.mjs verify <dir>...    checks each .py has a valid, current one
// Bytecode is "checked-hash" (PEP 552): no timestamps, so the same source gives the same
// bytes on every machine, and an out-of-date .pyc is ignored (recompiled) rather than run.
// Prints one JSON line: {"python", "magic", "dirs", "sources", "compiled"|"current"}.
import { loadPyodide } from "pyodide";
import path from "node:path";

const [mode, ...dirs] = process.argv.slice(2);
if (!["compile", "verify"].includes(mode) || dirs.length === 0) {
  console.error("usage: node infra/bytecode.mjs compile|verify <dir>...");
  process.exit(2);
}
const py = await loadPyodide({ stdout: () => {}, stderr: (line) => console.error(line) });
const mounts = dirs.map((dir, i) => {
  const mount = `/mnt/d${i}`;
  py.FS.mkdirTree(mount);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: path.resolve(dir) }, mount);
  return mount;
});
py.globals.set("MODE", mode);
py.globals.set("MOUNTS", py.toPy(mounts));
const result = py.runPython(`
import compileall, importlib.util, json, marshal, pathlib, py_compile, sys

def sources(root):
    return [p for p in sorted(pathlib.Path(root).rglob("*.py")) if "__pycache__" not in p.parts]

report = {"python": sys.version.split()[0], "magic": importlib.util.MAGIC_NUMBER.hex(), "dirs": len(MOUNTS)}
files = [p for root in MOUNTS for p in sources(root)]
report["sources"] = len(files)
if MODE == "compile":
    for root in MOUNTS:
        compileall.compile_dir(root, quiet=2, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    report["compiled"] = sum(pathlib.Path(importlib.util.cache_from_source(str(p))).is_file() for p in files)
else:
    current, problems = 0, []
    for p in files:
        pyc = pathlib.Path(importlib.util.cache_from_source(str(p)))
        if not pyc.is_file():
            problems.append(f"{p}: no {pyc.name}")
            continue
        data = pyc.read_bytes()
        flags = int.from_bytes(data[4:8], "little")
        if data[:4] != importlib.util.MAGIC_NUMBER or flags != 0b11:
            problems.append(f"{p}: not a checked-hash pyc of this Python")
        elif data[8:16] != importlib.util.source_hash(p.read_bytes()):
            problems.append(f"{p}: out of date")
        else:
            marshal.loads(data[16:])  # a code object this Python loads
            current += 1
    report["current"] = current
    report["problems"] = problems[:20]
json.dumps(report)
`);
console.log(result);
const parsed = JSON.parse(result);
const ok = mode === "compile" ? parsed.compiled === parsed.sources : parsed.current === parsed.sources;
process.exit(ok ? 0 : 1);
