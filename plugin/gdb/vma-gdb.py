"""vmakit for GDB: `vma whereis`, `vma map`, `vma fault`.

Load with `source /path/to/vma-gdb.py` (e.g. in ~/.gdbinit) or `gdb -x`.
The `_vmakit` module (C++, vmakit's core) sits next to this file (build
tree), in lib/python3/dist-packages under the same prefix (installed), or on
Python's path.

This layer only gathers what GDB knows (the inferior's pid or its maps, the
threads' stack pointers, expression values, $_siginfo) and prints what the
core renders: every decision about addresses, regions and signals is in
core/. Every failure reaches the user as a gdb.GdbError message, never as a
Python traceback.
"""

import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile

import gdb

_HERE = os.path.dirname(os.path.abspath(__file__))
_MASK = (1 << 64) - 1


def _module_dirs():
    """Where _vmakit may be: next to this file (the build tree), the install
    layout's module directory from this file (share/vmakit/gdb ->
    lib/python3/dist-packages under the same prefix), then sys.path."""
    dirs = [_HERE, os.path.normpath(os.path.join(_HERE, "..", "..", "..", "lib", "python3",
                                                 "dist-packages"))]
    for d in sys.path:
        d = os.path.abspath(d or os.curdir)
        if d not in dirs:
            dirs.append(d)
    return dirs


def _load_core_module():
    """Imports _vmakit from the first directory that holds it; returns (module, error)."""
    dirs = [d for d in _module_dirs() if os.path.isdir(d)]
    for d in dirs:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(d, "_vmakit" + suffix)
            if not os.path.exists(path):
                continue
            try:
                spec = importlib.util.spec_from_file_location("_vmakit", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as e:  # an ABI mismatch shows up as ImportError
                return None, "cannot load %s: %s" % (path, e)
            # The ABI is per minor version: a module for 3.11.2 loads in 3.11.4.
            here = "%d.%d.%d" % sys.version_info[:3]
            if module.python_version.split(".")[:2] != here.split(".")[:2]:
                return None, ("%s was built for Python %s, but GDB embeds Python %s; "
                              "rebuild vmakit (CMake asks GDB which Python it embeds)"
                              % (path, module.python_version, here))
            sys.modules["_vmakit"] = module
            return module, None
    for d in dirs[:2]:
        others = sorted(n for n in os.listdir(d) if n.startswith("_vmakit"))
        if others:
            return None, ("%s holds %s, built for another Python; GDB embeds Python %d.%d "
                          "(extension suffix %s)" % (d, ", ".join(others), sys.version_info[0],
                                                     sys.version_info[1],
                                                     importlib.machinery.EXTENSION_SUFFIXES[0]))
    return None, "no _vmakit module next to %s nor on Python's path" % os.path.abspath(__file__)


_core, _core_error = _load_core_module()


def _need_core():
    if _core is None:
        raise gdb.GdbError("vma: " + _core_error)
    return _core


# ---------------------------------------------------------------------------
# Arguments

def _split_expressions(text):
    """Splits `text` into GDB expressions at top-level blanks, keeping
    parentheses, brackets and quotes together, and joining around binary
    operators: `*(void **)$rsp`, `$rsp + 8`, `&a &b` (two)."""
    words, cur, depth, quote = [], "", 0, None
    for ch in text:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch.isspace() and depth == 0:
            if cur:
                words.append(cur)
            cur = ""
            continue
        cur += ch
    if cur:
        words.append(cur)
    binary_end = tuple("+-*/%&|^<>=!~?:,")
    binary_start = tuple("+/%|^<>=?:,")
    out = []
    for w in words:
        alone_op = re.fullmatch(r"[-+*/%&|^<>=!]+", w) is not None
        if out and (out[-1].endswith(binary_end) or w.startswith(binary_start) or alone_op):
            out[-1] += " " + w
        else:
            out.append(w)
    return out


def _parse(command, arg, flags, options=()):
    """Leading `--flag` / `--option VALUE` words, then the rest. Returns
    (dict, rest). `--` ends the flags. Words are split as GDB splits a
    command's arguments (gdb.string_to_argv: quotes and backslashes), so
    `--svg "/tmp/a b.svg"` is one file name and `--svg ''` an empty one,
    which is an error."""
    seen = {name: False for name in flags}
    seen.update({name: None for name in options})
    try:
        words = gdb.string_to_argv(arg)
    except (gdb.error, ValueError) as e:
        raise gdb.GdbError("%s: %s" % (command, e))
    while words and words[0].startswith("--"):
        word = words.pop(0)
        if word == "--":
            break
        name, eq, value = word[2:].partition("=")
        if name in flags and not eq:
            seen[name] = True
        elif name in options:
            if not eq:
                if not words:
                    raise gdb.GdbError("%s: --%s needs a value" % (command, name))
                value = words.pop(0)
            if not value:
                raise gdb.GdbError("%s: --%s needs a value, not an empty one" % (command, name))
            seen[name] = value
        else:
            known = ["--" + f for f in flags] + ["--%s VALUE" % o for o in options]
            raise gdb.GdbError("%s: unknown option %s (known: %s)"
                               % (command, word, ", ".join(known) or "none"))
    return seen, " ".join(words)


def _value_address(command, expr):
    """Evaluates a GDB expression to a 64-bit address."""
    try:
        v = gdb.parse_and_eval(expr)
        t = v.type.strip_typedefs()
        if t.code in (gdb.TYPE_CODE_ARRAY, gdb.TYPE_CODE_FUNC):
            if v.address is None:
                raise gdb.GdbError("%s: %s has no address" % (command, expr))
            v = v.address
            t = v.type.strip_typedefs()
        if t.code not in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM,
                          gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_BOOL):
            raise gdb.GdbError("%s: %s is of type %s, not an address" % (command, expr, v.type))
        return int(v) & _MASK
    except gdb.GdbError:
        raise
    except (gdb.error, gdb.MemoryError, ValueError, OverflowError) as e:
        raise gdb.GdbError("%s: cannot evaluate %s: %s" % (command, expr, e))


# ---------------------------------------------------------------------------
# Gathering from GDB

def _inferior(command):
    inf = gdb.selected_inferior()
    if inf is None or inf.pid == 0:
        raise gdb.GdbError("%s: no process (run or attach to a program, or open a core file)"
                           % command)
    return inf


def _connection_type(inf):
    conn = getattr(inf, "connection", None)
    return conn.type if conn is not None else "native"


def _threads(inf):
    """(tid, sp or None) for every thread; restores the selected thread and frame."""
    out = []
    try:
        cur_thread = gdb.selected_thread()
    except gdb.error:
        cur_thread = None
    try:
        cur_frame = gdb.selected_frame()
    except gdb.error:
        cur_frame = None
    try:
        for t in inf.threads():
            tid = t.ptid[1] or t.ptid[0]
            sp = None
            if t.is_valid() and not t.is_running() and not t.is_exited():
                try:
                    t.switch()
                    sp = int(gdb.newest_frame().read_register("sp")) & _MASK
                except (gdb.error, gdb.MemoryError, ValueError):
                    sp = None
            out.append((tid, sp))
    finally:
        if cur_thread is not None and cur_thread.is_valid():
            cur_thread.switch()
        if cur_frame is not None and cur_frame.is_valid():
            cur_frame.select()
    return out


def _core_arch(inf):
    """Core's Target name for GDB's architecture ("i386:x86-64" -> "x86_64")."""
    name = inf.architecture().name()
    if name == "i386:x86-64":
        return "x86_64"
    if name.startswith("aarch64"):
        return "aarch64"
    raise gdb.GdbError("vma: architecture %s is not supported" % name)


def _remote_file(path):
    """Reads a file on the target through GDB's target file access (vFile):
    bytes (a maps file's paths need not be UTF-8), or None."""
    fd, local = tempfile.mkstemp(prefix="vmakit-gdb-")
    os.close(fd)
    try:
        gdb.execute("remote get %s %s" % (path, local), to_string=True)
        with open(local, "rb") as f:
            return f.read()
    except (gdb.error, OSError):
        return None
    finally:
        os.unlink(local)


_MAPPING_ROW = re.compile(
    r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+([r-][w-][x-][ps])\s*(.*)$")


def _info_proc_mappings_rows():
    """GDB's `info proc mappings` as (start, end, perms, offset, name) rows;
    lossy (no dev, no inode), the fallback when maps cannot be read."""
    text = gdb.execute("info proc mappings", to_string=True)
    rows = []
    for line in text.splitlines():
        m = _MAPPING_ROW.match(line)
        if m:
            rows.append((int(m.group(1), 16), int(m.group(2), 16), m.group(4),
                         int(m.group(3), 16), m.group(5).rstrip()))
    return rows


def _core_file_name():
    text = gdb.execute("info target", to_string=True)
    m = re.search(r"Local core dump file:\s*\n\s*`(.*)', file type", text)
    return m.group(1) if m else None


_INFO_SYMBOL = re.compile(r"^(.*?)(?: \+ (\d+))? in section (\S+)")


def _gdb_symbol(addr):
    """(section, symbol, offset) from GDB's `info symbol`, for sources whose
    ELF files core may not be able to read; ("", "", None) when GDB knows
    nothing."""
    try:
        out = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    except gdb.error:
        return ("", "", None)
    m = _INFO_SYMBOL.match(out)
    if not m:
        return ("", "", None)
    return (m.group(3), m.group(1), int(m.group(2)) if m.group(2) else 0)


def _symbols_needed(inf):
    """Live local processes: core reads the ELF files itself (and the output
    must equal the CLI's); remote targets and cores also get GDB's symbols."""
    return _connection_type(inf) != "native"


def _source(command):
    """The region source for the selected inferior: live, remote or core."""
    core = _need_core()
    inf = _inferior(command)
    kind = _connection_type(inf)
    threads = _threads(inf)
    try:
        if kind == "native":
            return core.Source.pid(inf.pid, threads)
        if kind == "core":
            path = _core_file_name()
            if getattr(core, "has_core_source", False) and path:
                exe = inf.progspace.filename or ""
                return core.Source.core(path, exe)
            # GDB's own view of a core is too poor to classify: `info proc
            # mappings` lists only file-backed VMAs, without permissions, and
            # gcore does not even dump file-backed text.
            raise gdb.GdbError("%s: this vmakit was built without core's core-file reader "
                               "(core/core_source.cc); cannot classify core %s"
                               % (command, path or "?"))
        # remote, extended-remote: the remote's own /proc through vFile.
        text = _remote_file("/proc/%d/maps" % inf.pid)
        if text is not None and text.strip():
            mmap_min = _remote_file("/proc/sys/vm/mmap_min_addr")
            mmap_min = int(mmap_min) if mmap_min and mmap_min.strip().isdigit() else None
            return core.Source.maps_text(text, "remote /proc/%d/maps" % inf.pid, threads,
                                         inf.pid, _core_arch(inf), mmap_min)
        rows = _info_proc_mappings_rows()
        if not rows:
            raise gdb.GdbError("%s: cannot read the remote's /proc/%d/maps" % (command, inf.pid))
        return core.Source.regions(rows, "GDB's mappings of remote pid %d" % inf.pid, threads,
                                   inf.pid, _core_arch(inf))
    except core.Error as e:
        raise gdb.GdbError("%s: %s" % (command, e))
    except (gdb.error, gdb.MemoryError) as e:
        raise gdb.GdbError("%s: reading the target's mappings: %s" % (command, e))


def _color():
    try:
        return bool(gdb.parameter("style enabled")) and os.isatty(1)
    except (gdb.error, RuntimeError, OSError):
        return False


def _print(text):
    gdb.write(text if text.endswith("\n") else text + "\n")


def _run(command, fn):
    """Runs fn() and prints its text; every failure becomes a GdbError."""
    core = _need_core()
    try:
        _print(fn())
    except gdb.GdbError:
        raise
    except core.Error as e:
        raise gdb.GdbError("%s: %s" % (command, e))
    except (gdb.error, gdb.MemoryError) as e:
        raise gdb.GdbError("%s: %s" % (command, e))
    except Exception as e:  # never a traceback in the user's face
        raise gdb.GdbError("%s: internal error: %s: %s" % (command, type(e).__name__, e))


# ---------------------------------------------------------------------------
# Commands

class _VmaPrefix(gdb.Command):
    """vmakit: what is at this address, and what happens if I touch it?

vma whereis [--json] EXPR...          classify and annotate addresses
vma map [--json] [--kind K] [--gaps]  the classified address space
vma map --draw [--svg FILE] [--mark EXPR]
                                      the address space as a picture
vma fault [--json] [--draw] [--svg FILE]
                                      the signal the program stopped with

Works on a live process (local or gdbserver) and on a core file.
Output and JSON are the same as the `vma` command line tool's."""

    def __init__(self):
        super().__init__("vma", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError('vma: unknown subcommand "%s"; try "help vma"'
                               % arg.split()[0])
        gdb.execute("help vma", from_tty)


class _VmaWhereis(gdb.Command):
    """Say what is at each address: region kind, bounds, permissions, file, section, symbol.

Usage: vma whereis [--json] EXPR...

Each EXPR is a GDB expression: $rsp, $pc, &global, ptr, *(void **)$rsp,
$_siginfo._sifields._sigfault.si_addr, 0x7ffff7dd1000. Expressions are
separated by blanks outside parentheses; write `$rsp + 8` or `($rsp+8)`.
--json prints the same JSON as `vma whereis --json` of the command line tool."""

    def __init__(self):
        super().__init__("vma whereis", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        cmd = "vma whereis"
        words = _split_expressions(arg)
        flags = [w for w in words if re.match(r"--([a-z]|$)", w)]
        opts, _ = _parse(cmd, " ".join(flags), ("json",))
        exprs = [w for w in words if w not in flags]
        if not exprs:
            raise gdb.GdbError("%s: no address given (usage: vma whereis [--json] EXPR...)" % cmd)
        _inferior(cmd)
        addrs = [_value_address(cmd, e) for e in exprs]
        src = _source(cmd)
        syms = [_gdb_symbol(a) for a in addrs] if _symbols_needed(gdb.selected_inferior()) else None
        _run(cmd, lambda: src.whereis(addrs, json=opts["json"], color=_color(), symbols=syms))


class _VmaMap(gdb.Command):
    """List the classified address space of the program.

Usage: vma map [--json] [--kind KIND] [--gaps]
       vma map [--draw] [--svg FILE] [--mark EXPR]

--kind KIND  only regions of this kind: {kinds}
--gaps       also list the unmapped gaps between regions
--json       the same JSON as `vma map --json` of the command line tool
--draw       draw the whole address space, sized to the terminal (else the
             COLUMNS and LINES environment variables, else 80x40)
--svg FILE   write the drawing as a standalone SVG file
--mark EXPR  with --draw or --svg: point at the address EXPR evaluates to."""

    def __init__(self):
        super().__init__("vma map", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        cmd = "vma map"
        opts, rest = _parse(cmd, arg, ("json", "gaps", "draw"), ("kind", "svg", "mark"))
        if rest:
            raise gdb.GdbError("%s: unexpected argument %s (usage: vma map [--json] "
                               "[--kind KIND] [--gaps] [--draw] [--svg FILE] [--mark EXPR])"
                               % (cmd, rest.split()[0]))
        drawing = opts["draw"] or opts["svg"] is not None
        if opts["mark"] is not None and not drawing:
            raise gdb.GdbError("%s: --mark: give --draw or --svg FILE too" % cmd)
        if drawing and (opts["json"] or opts["kind"] is not None or opts["gaps"]):
            raise gdb.GdbError("%s: --draw and --svg show the whole address space: "
                               "not with --json, --kind or --gaps" % cmd)
        core = _need_core()
        _inferior(cmd)
        mark = _value_address(cmd, opts["mark"]) if opts["mark"] is not None else None
        if opts["kind"] is not None:
            try:
                core.check_kind(opts["kind"])
            except core.Error as e:
                raise gdb.GdbError("%s: %s" % (cmd, e))
        src = _source(cmd)
        _run(cmd, lambda: src.map(json=opts["json"], kind=opts["kind"], gaps=opts["gaps"],
                                  color=_color(), draw=opts["draw"], svg=opts["svg"], mark=mark))


class _VmaFault(gdb.Command):
    """Explain the signal the program stopped with, from $_siginfo.

Usage: vma fault [--json] [--draw] [--svg FILE]

Prints the signal, its si_code by name, the fault address annotated like
`vma whereis`, the faulting instruction and a one-line explanation.
--draw adds the drawing of the address space pointing at the fault address;
--svg FILE writes that drawing as SVG."""

    def __init__(self):
        super().__init__("vma fault", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        cmd = "vma fault"
        opts, rest = _parse(cmd, arg, ("json", "draw"), ("svg",))
        if rest:
            raise gdb.GdbError("%s: unexpected argument %s (usage: vma fault [--json] [--draw] "
                               "[--svg FILE])" % (cmd, rest.split()[0]))
        if opts["json"] and (opts["draw"] or opts["svg"] is not None):
            raise gdb.GdbError("%s: --draw and --svg: not with --json" % cmd)
        core = _need_core()
        _inferior(cmd)
        try:
            si = gdb.parse_and_eval("$_siginfo")
            signo = int(si["si_signo"])
            code = int(si["si_code"])
        except (gdb.error, gdb.MemoryError) as e:
            raise gdb.GdbError("%s: the program has not stopped on a signal ($_siginfo: %s)"
                               % (cmd, e))
        if signo == 0:
            raise gdb.GdbError("%s: the program has not stopped on a signal" % cmd)
        addr = None
        if core.siginfo_has_address(signo, code):
            try:
                addr = int(si["_sifields"]["_sigfault"]["si_addr"]) & _MASK
            except (gdb.error, gdb.MemoryError):
                addr = None
        pc, insn = None, ""
        try:
            frame = gdb.newest_frame()
            pc = frame.pc() & _MASK
            insn = frame.architecture().disassemble(pc)[0]["asm"]
        except (gdb.error, gdb.MemoryError, IndexError):
            pass
        src = _source(cmd)
        sym = None
        where = addr if addr is not None else pc
        if where is not None and _symbols_needed(gdb.selected_inferior()):
            sym = _gdb_symbol(where)
        _run(cmd, lambda: src.fault(signo, code, addr, pc, insn, json=opts["json"],
                                    color=_color(), symbol=sym, draw=opts["draw"],
                                    svg=opts["svg"]))


_VmaMap.__doc__ = _VmaMap.__doc__.replace(
    "{kinds}", ", ".join(_core.region_kind_names()) if _core else "see `vma kinds` of the CLI")
_VmaPrefix()
_VmaWhereis()
_VmaMap()
_VmaFault()
