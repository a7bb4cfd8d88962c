#!/usr/bin/python3
"""Checks that every probe's dangerous access survived the optimiser.

GCC 12 at -O2 turns `*(int *)0` into a load followed by `ud2` (the probe
would die of SIGILL, not SIGSEGV); clang deletes the access altogether. This
script reads `objdump -d --no-show-raw-insn` of each built probe and checks:

  * no `ud2` anywhere in the probe's code;
  * the probe_access* function holds the access the probe is about (a load or
    a store through a general register, an indirect call or jump);
  * the null probes pass a zero pointer to it (`xor %edi,%edi` just before the
    call), so the access really goes through a register holding 0;
  * the exec probes store a `ret` (0xc3) before the indirect call;
  * the stack probes really recurse, touch their frames, and (thread stack)
    carry -fstack-clash-protection page probes.

  check_disasm.py [--arch x86_64|aarch64] check --probe-dir DIR [--objdump OBJDUMP] [ID...]
  check_disasm.py [--arch ...] selfcheck --probe-src DIR --workdir DIR --cc CC [--cc CC...]

`selfcheck` compiles a plain `*(int *)0` with each compiler at -O2 and asserts
the checker flags it, and compiles every real probe source with each compiler
and asserts it passes (so the checker is neither blind nor too strict).

--arch (default: this machine's) picks the instruction set the patterns are
written for: x86_64 (AT&T syntax) or aarch64 (an aarch64 build read with
aarch64-linux-gnu-objdump, e.g. a cross build checked on an x86 machine).
On aarch64 the trap GCC emits is `brk`/`udf`, a null argument is `mov x0,
#0x0`, a `ret` written by probe_put_ret is the bytes c0 03 5f d6, and the
stack clash rule differs (see clash_probe). The arm64-only probes (mte-*,
pac-auth, bti-landing, tbi-read) are checked on aarch64 only.
Exit 0 pass, 1 fail, 77 skip (an architecture the patterns do not know).
"""

import argparse
import os
import platform
import re
import subprocess
import sys

LOAD, STORE, INDIRECT = "load", "store", "indirect"
NULL_ARG, RET_STORE = "null_arg", "ret_store"
RECURSE, CLASH_PROBE, FRAME_STORE = "recurse", "clash_probe", "frame_store"

A = "probe_access"
CALL = "probe_access_call"
REC = "probe_access_recurse"

# probe id -> list of (function, requirement)
PROBES = {
    "null-read": [(A, LOAD), ("main", NULL_ARG)],
    "null-write": [(A, STORE), ("main", NULL_ARG)],
    "null-exec": [(CALL, INDIRECT), ("main", NULL_ARG)],
    "kernel-read": [(A, LOAD)],
    "kernel-write": [(A, STORE)],
    "noncanonical-read": [(A, LOAD)],
    "noncanonical-jump": [("probe_access_jump", INDIRECT)],
    "text-write": [(A, STORE)],
    "rodata-write": [(A, STORE)],
    "relro-write": [(A, STORE)],
    "vdso-write": [(A, STORE)],
    "exec-stack": [(CALL, INDIRECT), ("main", RET_STORE)],
    "exec-heap": [(CALL, INDIRECT), ("main", RET_STORE)],
    "exec-bss": [(CALL, INDIRECT), ("main", RET_STORE)],
    "exec-data": [(CALL, INDIRECT), ("main", RET_STORE)],
    "exec-anon": [(CALL, INDIRECT), ("main", RET_STORE)],
    "wx-mmap": [(CALL, INDIRECT), ("main", RET_STORE)],
    "wx-mprotect": [(CALL, INDIRECT), ("main", RET_STORE)],
    "text-mprotect-write": [(A, STORE)],
    "guard-prot-none": [(A, LOAD)],
    "guard-madvise": [(A, LOAD)],
    "thread-stack-overflow": [(REC, RECURSE), (REC, CLASH_PROBE), (REC, FRAME_STORE)],
    "stack-overflow": [(REC, RECURSE), (REC, FRAME_STORE)],
    "sigbus-eof": [(A, LOAD)],
    "sigbus-memfd-shrink": [(A, STORE)],
    "vsyscall-read": [(A, LOAD)],
    "vsyscall-call": [("probe_access_call_vsyscall", INDIRECT)],
    "mmap-min-addr": [(A, STORE)],
    "use-after-munmap": [(A, LOAD)],
    "pkey": [(A, LOAD)],
    "mseal": [],  # syscalls only: mseal then mprotect
    "mdwe": [(CALL, INDIRECT), ("main", RET_STORE)],
    "execstack-elf": [(CALL, INDIRECT), ("main", RET_STORE)],
}

# arm64-only probes: each skips elsewhere, so only aarch64 builds are read.
ARM64_PROBES = {
    "mte-sync": [(A, STORE)],
    "mte-async": [(A, STORE)],
    "tbi-read": [(A, LOAD)],
    "pac-auth": [("probe_access_auth_branch", INDIRECT)],
    "bti-landing": [("probe_access_blr", INDIRECT)],
}
# x86-only probes: on aarch64 they print a skip line and touch nothing.
X86_ONLY = {"noncanonical-jump", "vsyscall-read", "vsyscall-call"}


def probes_for(arch):
    if arch == "aarch64":
        table = {k: v for k, v in PROBES.items() if k not in X86_ONLY}
        table.update(ARM64_PROBES)
        return table
    return dict(PROBES)

FUNC_RE = re.compile(r"^([0-9a-f]+) <([^>]+)>:$")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")
# An AT&T memory operand: [seg:][disp](base[,index[,scale]]); base captured.
MEM_RE = re.compile(r"^(?:%\w+:)?(?:-?0x[0-9a-f]+|-?\d+)?\((%\w+)?(?:,%\w+(?:,\d)?)?\)$")
NOT_ACCESS = ("lea", "nop", "prefetch", "endbr", "call", "jmp", "push", "pop")
READS_ALL = ("cmp", "test", "bt")


class Insn:
    def __init__(self, addr, text):
        self.addr = addr
        text = text.split("#", 1)[0].strip()
        parts = text.split(None, 1)
        # Prefixes such as `lock`, `rep`, `data16`, `cs` come before the mnemonic.
        while len(parts) == 2 and parts[0] in ("lock", "rep", "repz", "repnz", "data16", "cs", "ds", "notrack", "bnd"):
            parts = parts[1].split(None, 1)
        self.mnemonic = parts[0] if parts else ""
        self.operand_text = parts[1].strip() if len(parts) == 2 else ""
        self.operands = split_operands(self.operand_text)
        self.text = text

    def memory_operands(self):
        """(index, base register) of every memory operand."""
        out = []
        for i, op in enumerate(self.operands):
            m = MEM_RE.match(op)
            if m:
                out.append((i, m.group(1)))
        return out

    def is_load_via_register(self):
        if self.mnemonic.startswith(NOT_ACCESS):
            return False
        for i, base in self.memory_operands():
            if base in (None, "%rsp", "%rip", "%esp"):
                continue
            if i < len(self.operands) - 1 or self.mnemonic.startswith(READS_ALL):
                return True
        return False

    def is_store(self, bases_ok):
        if self.mnemonic.startswith(NOT_ACCESS + READS_ALL) or len(self.operands) < 2:
            return False
        for i, base in self.memory_operands():
            if i == len(self.operands) - 1 and bases_ok(base):
                return True
        return False

    def is_indirect_branch(self):
        return self.mnemonic in ("jmp", "call", "jmpq", "callq") and re.match(r"^\*%r\w+$", self.operand_text) is not None

    def call_target(self):
        if not self.mnemonic.startswith("call"):
            return None
        m = re.search(r"<([^>+]+)(?:\+0x[0-9a-f]+)?>", self.operand_text)
        return m.group(1) if m else None


def split_operands(text, open_="(", close=")"):
    """Operands split at commas outside brackets: `(...)` in AT&T, `[...]` in aarch64."""
    ops, depth, cur = [], 0, ""
    for ch in text:
        if ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
        if ch == "," and depth == 0:
            ops.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        ops.append(cur.strip())
    return ops


A64_MEM_RE = re.compile(r"^\[(\w+)(?:,[^\]]*)?\]!?$")


class A64Insn:
    """One aarch64 instruction as objdump prints it (`ldr w0, [x0]`)."""

    def __init__(self, addr, text):
        self.addr = addr
        text = text.split("//", 1)[0].strip()
        parts = text.split(None, 1)
        self.mnemonic = parts[0] if parts else ""
        self.operand_text = parts[1].strip() if len(parts) == 2 else ""
        self.operands = split_operands(self.operand_text, "[", "]")
        self.text = text

    def memory_bases(self):
        return [m.group(1) for m in (A64_MEM_RE.match(op) for op in self.operands) if m]

    def is_load_via_register(self):
        if not self.mnemonic.startswith("ld"):
            return False
        return any(b not in ("sp", "xzr") for b in self.memory_bases())

    def is_store(self, bases_ok):
        if not self.mnemonic.startswith("st"):
            return False
        return any(bases_ok(b) for b in self.memory_bases())

    def is_indirect_branch(self):
        return self.mnemonic in ("br", "blr", "braa", "brab", "blraa", "blrab", "braaz", "blraaz") and \
            re.match(r"^x\d+", self.operand_text) is not None

    def call_target(self):
        if self.mnemonic != "bl":
            return None
        m = re.search(r"<([^>+]+)(?:\+0x[0-9a-f]+)?>", self.operand_text)
        return m.group(1) if m else None

    def is_trap(self):
        return self.mnemonic in ("brk", "udf")

    def immediate(self):
        """The value of `mov wN, #imm` (as an unsigned 32-bit number), or None."""
        if self.mnemonic != "mov" or len(self.operands) != 2:
            return None
        m = re.match(r"^#(-?0x[0-9a-f]+|-?\d+)$", self.operands[1])
        if not m:
            return None
        return int(m.group(1), 0) & 0xffffffff


class X86:
    name = "x86_64"
    insn = None  # set below to Insn
    trap_name = "ud2"

    @staticmethod
    def is_trap(i):
        return i.mnemonic == "ud2"

    @staticmethod
    def gpr_base(base):
        return base is not None and base not in ("%rsp", "%rip", "%esp")

    @staticmethod
    def stack_base(base):
        return base == "%rsp"

    @staticmethod
    def null_arg(insns, k):
        return any(prev.text in ("xor    %edi,%edi", "xor    %rdi,%rdi") or
                   re.match(r"^mov\w*\s+\$0x0,%(e|r)di$", prev.text) for prev in insns[max(0, k - 4):k])

    @staticmethod
    def ret_store(insns):
        if any(i.mnemonic.startswith("mov") and i.operands[:1] == ["$0xc3"] for i in insns):
            return None
        return "no store of a `ret` (0xc3)"

    @staticmethod
    def clash_probe(insns):
        # GCC: `sub $0x1000,%rsp; orq $0x0,(%rsp)` in a loop; clang: the same
        # pair unrolled with `movq $0x0,(%rsp)`. One page at a time either way.
        pairs = zip(insns, insns[1:])
        if any(re.match(r"^sub[lq]?\s+\$0x1000,%rsp$", a.text) and
               re.match(r"^(?:or|mov)[lq]?\s+\$0x0,\(%rsp\)$", b.text) for a, b in pairs):
            return None
        return "no stack clash probe (`sub $0x1000,%rsp` then `or $0x0,(%rsp)`): built without -fstack-clash-protection?"


class AArch64:
    name = "aarch64"
    insn = A64Insn
    trap_name = "brk/udf"
    # GCC's aarch64 stack clash protection assumes a 64 KiB guard below the
    # stack (--param stack-clash-protection-guard-size=16) and probes only
    # frames that could step over it; glibc's aarch64 thread guard is 64 KiB
    # to match (ARCH_MIN_GUARD_SIZE, sysdeps/aarch64/nptl/pthreaddef.h).
    CLASH_GUARD = 64 * 1024

    @staticmethod
    def is_trap(i):
        return i.is_trap()

    @staticmethod
    def gpr_base(base):
        return base not in ("sp", "xzr")

    @staticmethod
    def stack_base(base):
        return base == "sp"

    @staticmethod
    def null_arg(insns, k):
        return any(re.match(r"^mov\s+[xw]0, (?:#0x0|xzr|wzr)$", prev.text) for prev in insns[max(0, k - 4):k])

    @staticmethod
    def ret_store(insns):
        # probe_put_ret writes `ret` (0xd65f03c0) byte by byte: c0 03 5f d6.
        low = {imm & 0xff for imm in (i.immediate() for i in insns) if imm is not None}
        stores = sum(1 for i in insns if i.mnemonic == "strb")
        if {0xc0, 0x03, 0x5f, 0xd6} <= low and stores >= 4:
            return None
        return "no byte stores of a `ret` (c0 03 5f d6)"

    @classmethod
    def clash_probe(cls, insns):
        frame = 0
        for i in insns:
            if i.mnemonic == "sub" and i.operands[:2] == ["sp", "sp"] and len(i.operands) >= 3:
                m = re.match(r"^#(0x[0-9a-f]+|\d+)(?:, lsl #(\d+))?$", ", ".join(i.operands[2:]))
                if m:
                    frame = max(frame, int(m.group(1), 0) << int(m.group(2) or 0))
            imm = i.immediate() if i.mnemonic == "mov" and i.operands[:1] and i.operands[0].startswith("x") else None
            if imm is not None:
                frame = max(frame, imm)
        probed = any(i.mnemonic == "str" and i.operands[:1] == ["xzr"] and i.memory_bases() == ["sp"] for i in insns)
        if probed or 0 < frame < cls.CLASH_GUARD:
            return None
        return f"frame of {frame} bytes without a stack clash probe (`str xzr, [sp, ...]`)"


X86.insn = Insn
ISAS = {"x86_64": X86, "aarch64": AArch64}


def disassemble(objdump, path, isa=X86):
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", path], check=True, capture_output=True, text=True).stdout
    funcs, current = {}, None
    for line in out.splitlines():
        m = FUNC_RE.match(line)
        if m:
            current = m.group(2)
            funcs[current] = []
            continue
        m = INSN_RE.match(line)
        if m and current is not None:
            funcs[current].append(isa.insn(int(m.group(1), 16), m.group(2)))
    return funcs


def check_requirement(funcs, fn, req, isa=X86):
    """Returns None if met, else a message."""
    insns = funcs.get(fn)
    if insns is None:
        return f"{fn}: function missing (inlined, renamed or deleted?)"
    if req == LOAD:
        if not any(i.is_load_via_register() for i in insns):
            return f"{fn}: no load through a general register (access deleted?)"
    elif req == STORE:
        if not any(i.is_store(isa.gpr_base) for i in insns):
            return f"{fn}: no store through a general register (access deleted?)"
    elif req == INDIRECT:
        if not any(i.is_indirect_branch() for i in insns):
            return f"{fn}: no indirect call or jmp through a register"
    elif req == NULL_ARG:
        ok = False
        for k, insn in enumerate(insns):
            target = insn.call_target()
            if target is None or not target.startswith("probe_access"):
                continue
            if isa.null_arg(insns, k):
                ok = True
        if not ok:
            return f"{fn}: no call to probe_access* with a zero first argument"
    elif req == RET_STORE:
        msg = isa.ret_store(insns)
        if msg:
            return f"{fn}: {msg}"
    elif req == RECURSE:
        if not any(i.call_target() == fn for i in insns):
            return f"{fn}: does not call itself (recursion turned into a loop or removed)"
    elif req == CLASH_PROBE:
        msg = isa.clash_probe(insns)
        if msg:
            return f"{fn}: {msg}"
    elif req == FRAME_STORE:
        if not any(i.is_store(isa.stack_base) for i in insns):
            return f"{fn}: never writes its frame"
    else:
        return f"unknown requirement {req}"
    return None


def check_binary(objdump, path, requirements, isa=X86):
    """List of problems with one probe binary (empty when it is fine)."""
    funcs = disassemble(objdump, path, isa)
    problems = []
    for name, insns in funcs.items():
        if name.endswith("@plt") or name.startswith((".plt", "_init", "_fini")):
            continue
        for i in insns:
            if isa.is_trap(i):
                problems.append(f"{name}: {i.mnemonic} at {i.addr:#x} (the compiler proved a fault and trapped instead)")
    for fn, req in requirements:
        msg = check_requirement(funcs, fn, req, isa)
        if msg:
            problems.append(msg)
    return problems


def cmd_check(args):
    isa = ISAS[args.arch]
    table = probes_for(args.arch)
    ids = args.ids or sorted(table)
    failed = 0
    for pid in ids:
        if pid not in table:
            print(f"FAIL {pid}: no disassembly expectations for this probe id")
            failed += 1
            continue
        path = os.path.join(args.probe_dir, pid)
        if not os.path.exists(path):
            print(f"FAIL {pid}: {path} not built")
            failed += 1
            continue
        problems = check_binary(args.objdump, path, table[pid], isa)
        if problems:
            failed += 1
            for p in problems:
                print(f"FAIL {pid}: {p}")
        else:
            print(f"ok   {pid}")
    print(f"{len(ids) - failed}/{len(ids)} probes pass")
    return 1 if failed else 0


BAD_SOURCES = {
    # The classic mistake: a literal null dereference in the access function.
    "bad-literal-null": (
        '#include "probe.h"\n'
        "PROBE_ACCESS int probe_access(void) { return *(int *)0; }\n"
        "int main(void) { probe_init(); probe_target(0); return probe_access(); }\n",
        [(A, LOAD)],
    ),
    # The same mistake written straight into main.
    "bad-null-in-main": (
        '#include "probe.h"\n'
        "int main(void) { probe_init(); probe_target(0); int v = *(int *)0; return v; }\n",
        [(A, LOAD), ("main", NULL_ARG)],
    ),
    # A call through a null function pointer the compiler can see.
    "bad-null-call": (
        '#include "probe.h"\n'
        "int main(void) { probe_init(); void (*f)(void) = 0; f(); return 0; }\n",
        [(CALL, INDIRECT), ("main", NULL_ARG)],
    ),
}

EXTRA_FLAGS = {
    "thread-stack-overflow": ["-fstack-clash-protection", "-pthread"],
    "relro-write": ["-Wl,-z,relro,-z,now"],
    "execstack-elf": ["-Wl,-z,execstack"],
}


def compile_c(cc, src, out, include, extra):
    cmd = [cc, "-O2", "-D_GNU_SOURCE", "-fno-stack-protector", "-I", include, "-o", out, src] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")


def cmd_selfcheck(args):
    isa = ISAS[args.arch]
    os.makedirs(args.workdir, exist_ok=True)
    failed = 0
    for cc in args.cc:
        tag = os.path.basename(cc)
        for name, (source, reqs) in sorted(BAD_SOURCES.items()):
            src = os.path.join(args.workdir, f"{name}.c")
            with open(src, "w") as f:
                f.write(source)
            exe = os.path.join(args.workdir, f"{name}.{tag}")
            compile_c(cc, src, exe, args.probe_src, [])
            problems = check_binary(args.objdump, exe, reqs, isa)
            if problems:
                print(f"ok   {tag} {name}: flagged: {'; '.join(problems)}")
            else:
                print(f"FAIL {tag} {name}: the checker accepted a deleted or trapped access")
                failed += 1
        for pid, reqs in sorted(probes_for(args.arch).items()):
            exe = os.path.join(args.workdir, f"{pid}.{tag}")
            compile_c(cc, os.path.join(args.probe_src, f"{pid}.c"), exe, args.probe_src, EXTRA_FLAGS.get(pid, []))
            problems = check_binary(args.objdump, exe, reqs, isa)
            if problems:
                failed += 1
                for p in problems:
                    print(f"FAIL {tag} {pid}: {p}")
            else:
                print(f"ok   {tag} {pid}")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objdump", default="objdump")
    ap.add_argument("--arch", default=platform.machine(), help="x86_64 or aarch64 (default: this machine)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--probe-dir", required=True)
    c.add_argument("ids", nargs="*")
    s = sub.add_parser("selfcheck")
    s.add_argument("--probe-src", required=True)
    s.add_argument("--workdir", required=True)
    s.add_argument("--cc", action="append", required=True)
    args = ap.parse_args()
    if args.arch == "AMD64":
        args.arch = "x86_64"
    if args.arch not in ISAS:
        print(f"SKIP: no disassembly patterns for {args.arch} (known: {', '.join(ISAS)})")
        return 77
    return cmd_check(args) if args.cmd == "check" else cmd_selfcheck(args)


if __name__ == "__main__":
    sys.exit(main())
