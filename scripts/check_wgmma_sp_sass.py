#!/usr/bin/env python3
"""Static checks of the sparse warpgroup MMA in compiled SASS (sm_90a): metadata registers, serialization.

Why: the sparse wgmma (HGMMA / QGMMA / IGMMA .SP) reads its metadata register after issue, and
ptxas does not protect that register the way it protects the accumulators (bench/NOTES.md,
session 15: with the GEMM's k-loop left rolled, ptxas loaded the next k-block's metadata into
the register of the batch still in flight, and every cooperative tile gave wrong products with
no compiler message). So the kernels are correct only if no instruction writes a metadata
register between the sparse GMMA that names it and the WARPGROUP.DEPBAR that retires its
commit group. This script proves that on the SASS of every function, by data flow over the
control-flow graph (loop back edges included), or names the instruction that breaks it.

It also flags a function whose sparse GMMA ptxas serialized (each one waited for before the
next: a silent ~2x slowdown that ptxas reports only as an "info" line, C7510-C7515).

Model of the SASS (cuobjdump --dump-sass of sm_90a code):
  * every *GMMA joins the open commit group; the one that carries `gsb0` closes it;
  * `WARPGROUP.DEPBAR.LE gsb0, 0xN` leaves the newest N closed groups in flight;
  * a sparse GMMA's metadata register is its last plain R operand (after the accumulators);
  * an instruction's destination registers: its first operand (second after a predicate for
    SHFL / LOP3), widened for 64- and 128-bit forms, and a GMMA's accumulator range;
  * CALL: the callee's writes happen at the call; BRX / JMX (indirect jumps) cannot be followed
    and are an error only where a sparse group may be in flight (the epilogues' jump tables run
    after the final wait).

Usage:
  check_wgmma_sp_sass.py [--cuobjdump PATH] [--min-sites N] FILE...   (objects / libraries)
  check_wgmma_sp_sass.py --sass FILE...                                 (SASS text)
Exit status: 0 when every function is clean (and at least --min-sites sparse GMMA were found),
1 on a hazard or too few sites, 2 on a usage or tool error.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

LINE_RE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P[0-9T]\s+)?([A-Z][A-Z0-9_.]*)\s*([^;]*);")
FUNC_RE = re.compile(r"Function\s*:\s*(\S+)")
REG_RE = re.compile(r"^-?R(\d+)(?:\.[A-Za-z0-9_]+)*$")
PRED_RE = re.compile(r"^!?U?P(\d|T)$")
GMMA_RE = re.compile(r"^[HQI]GMMA\.")
GMMA_SHAPE_RE = re.compile(r"\.64x(\d+)x\d+")
MAX_GROUPS_IN_FLIGHT = 8

NO_REGISTER_DEST = {
    "BRA", "BRX", "BRXU", "JMX", "JMXU", "JMP", "CALL", "RET", "EXIT", "BSSY", "BSYNC", "BREAK", "WARPSYNC",
    "BAR", "BPT", "NANOSLEEP", "YIELD", "NOP", "DEPBAR", "MEMBAR", "FENCE", "ERRBAR", "CCTL",
    "ST", "STG", "STS", "STL", "STSM", "RED", "REDG", "REDUX_ST", "WARPGROUP", "KILL", "ACQBULK",
    "PREEXIT", "UTMALDG", "UTMASTG", "UTMAPF", "UBLKCP", "UTMACCTL", "ELECT", "ISETP", "FSETP",
    "DSETP", "HSETP2", "PLOP3", "PSETP", "UISETP", "UPLOP3",
}
SECOND_OPERAND_DEST_AFTER_PREDICATE = {"SHFL", "LOP3"}


class Instr:
    __slots__ = ("addr", "pred", "op", "operands")

    def __init__(self, addr, pred, op, operands):
        self.addr, self.pred, self.op, self.operands = addr, pred, op, operands

    @property
    def base(self):
        return self.op.split(".")[0]

    def is_sparse_gmma(self):
        return bool(GMMA_RE.match(self.op)) and "SP" in self.op.split(".")


def parse_functions(text):
    """{function name: [Instr]} from cuobjdump / nvdisasm text."""
    functions, name = {}, None
    for line in text.splitlines():
        m = FUNC_RE.search(line)
        if m:
            name = m.group(1)
            functions[name] = []
            continue
        if name is None:
            continue
        m = LINE_RE.search(line)
        if not m:
            continue
        operands = [o.strip() for o in m.group(4).split(",") if o.strip()]
        pred = m.group(2).strip() if m.group(2) else None
        functions[name].append(Instr(int(m.group(1), 16), pred, m.group(3), operands))
    return functions


def register_index(operand):
    m = REG_RE.match(operand)
    return int(m.group(1)) if m else None


def gmma_dest_count(instr):
    m = GMMA_SHAPE_RE.search(instr.op)
    n = int(m.group(1)) if m else 256
    # m64nN: 64 * N accumulators over 128 threads; 16-bit accumulators pack two to a register.
    packed = ".F16" in instr.op and ".F32" not in instr.op
    return n // 4 if packed else n // 2


def written_registers(instr):
    """The R registers an instruction may write (an over-approximation of known wide forms)."""
    if GMMA_RE.match(instr.op):
        first = register_index(instr.operands[0]) if instr.operands else None
        return set(range(first, first + gmma_dest_count(instr))) if first is not None else set()
    base = instr.base
    if base in NO_REGISTER_DEST or not instr.operands:
        return set()
    dest = instr.operands[0]
    if PRED_RE.match(dest):
        if base not in SECOND_OPERAND_DEST_AFTER_PREDICATE or len(instr.operands) < 2:
            return set()
        dest = instr.operands[1]
    first = register_index(dest)
    if first is None:
        return set()
    parts = instr.op.split(".")
    width = 1
    if "128" in parts or (base == "LDSM" and "4" in parts):
        width = 4
    elif ("64" in parts or "WIDE" in parts or (base == "LDSM" and "2" in parts) or base[0] == "D"
          or (base == "CS2R" and "32" not in parts)):
        width = 2
    return set(range(first, first + width))


def metadata_register(instr):
    regs = [register_index(o) for o in instr.operands[1:]]
    regs = [r for r in regs if r is not None]
    if len(regs) < 2:  # the accumulator input and the metadata
        raise ValueError(f"cannot find the metadata operand of {instr.op} {instr.operands}")
    return regs[-1]


def is_unconditional(instr):
    return instr.pred is None or instr.pred == "@PT"


def is_serialized(instrs):
    """True when each sparse GMMA is a commit group of its own that is drained (DEPBAR 0) before
    the next GMMA: the form ptxas emits when it serializes the pipeline (C7510-C7515), which it
    reports only as an info line. The GEMM's own groups hold two or more GMMA."""
    sparse = [i for i, ins in enumerate(instrs) if ins.is_sparse_gmma()]
    if not sparse:
        return False
    for i in sparse:
        if "gsb0" not in instrs[i].operands:
            return False
        follower = next((ins for ins in instrs[i + 1:]
                         if GMMA_RE.match(ins.op) or ins.op.startswith("WARPGROUP.DEPBAR")), None)
        if follower is None or not follower.op.startswith("WARPGROUP.DEPBAR") or \
                int(follower.operands[-1], 16) != 0:
            return False
    return True


def check_function(name, instrs):
    """Returns (number of sparse GMMA, [problem strings])."""
    index = {ins.addr: i for i, ins in enumerate(instrs)}
    sites = sum(1 for ins in instrs if ins.is_sparse_gmma())
    if sites == 0:
        return 0, []

    # Writes of each subroutine (CALL target .. first RET), charged at the call.
    callee_writes = {}

    def writes_of_callee(target):
        if target not in callee_writes:
            regs = set()
            i = index.get(target)
            while i is not None and i < len(instrs):
                regs |= written_registers(instrs[i])
                if instrs[i].base == "RET" and is_unconditional(instrs[i]):
                    break
                i += 1
            callee_writes[target] = regs
        return callee_writes[target]

    def successors(i):
        ins = instrs[i]
        nxt = [i + 1] if i + 1 < len(instrs) else []
        if ins.base == "BRA":
            target = index.get(int(ins.operands[-1], 16))
            if target is None:
                raise ValueError(f"{name}: branch to unknown address {ins.operands[-1]}")
            return [target] if is_unconditional(ins) else [target] + nxt
        if ins.base in ("EXIT", "RET"):
            return [] if is_unconditional(ins) else nxt
        return nxt

    problems = []
    if is_serialized(instrs):
        problems.append(f"{name}: every sparse GMMA is waited for right after its issue (ptxas "
                        "serialized the wgmma pipeline: see its C751x messages)")
    empty = ((), frozenset())
    seen = defaultdict(set)
    work = [(0, empty)]
    while work:
        i, state = work.pop()
        if state in seen[i]:
            continue
        seen[i].add(state)
        closed, open_group = state
        ins = instrs[i]
        in_flight = set().union(*closed, open_group) if (closed or open_group) else set()

        if in_flight and ins.base in ("BRX", "BRXU", "JMX", "JMXU"):
            problems.append(f"{name}: indirect jump at /*{ins.addr:04x}*/ with a sparse GMMA in flight")
            continue
        writes = written_registers(ins)
        if ins.base == "CALL" and ins.operands:
            writes = writes | writes_of_callee(int(ins.operands[-1], 16))
        clobbered = {(reg, site) for (reg, site) in in_flight if reg in writes}
        for reg, site in sorted(clobbered):
            problems.append(f"{name}: /*{ins.addr:04x}*/ {ins.op} writes R{reg}, the metadata of the "
                            f"sparse GMMA at /*{site:04x}*/, before the WARPGROUP.DEPBAR that retires it")

        if GMMA_RE.match(ins.op):
            if ins.is_sparse_gmma():
                open_group = open_group | {(metadata_register(ins), ins.addr)}
            if "gsb0" in ins.operands:
                closed = closed + (open_group,)
                open_group = frozenset()
                if len(closed) > MAX_GROUPS_IN_FLIGHT:
                    problems.append(f"{name}: more than {MAX_GROUPS_IN_FLIGHT} commit groups in "
                                    f"flight at /*{ins.addr:04x}*/ (a loop without a DEPBAR?)")
                    continue
        elif ins.op.startswith("WARPGROUP.DEPBAR"):
            keep = int(ins.operands[-1], 16)
            closed = closed[len(closed) - keep:] if keep < len(closed) else closed
        new_state = (closed, frozenset(open_group))
        for j in successors(i):
            if new_state not in seen[j]:
                work.append((j, new_state))
    return sites, sorted(set(problems))


def check_text(text, label):
    functions = parse_functions(text)
    total_sites, problems = 0, []
    for name, instrs in functions.items():
        sites, found = check_function(name, instrs)
        total_sites += sites
        problems += found
    print(f"{label}: {len(functions)} functions, {total_sites} sparse GMMA instructions, "
          f"{len(problems)} problems (metadata hazards, serialized pipelines)")
    return total_sites, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--sass", action="store_true", help="the files are SASS text")
    ap.add_argument("--cuobjdump", default="cuobjdump")
    ap.add_argument("--min-sites", type=int, default=0,
                    help="fail unless at least this many sparse GMMA instructions are found")
    args = ap.parse_args()

    total_sites, problems = 0, []
    for path in args.files:
        if args.sass:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        else:
            # cuobjdump runs nvdisasm, found on PATH: the one installed beside it comes first.
            env = dict(os.environ)
            tool_dir = os.path.dirname(shutil.which(args.cuobjdump) or args.cuobjdump)
            if tool_dir:
                env["PATH"] = tool_dir + os.pathsep + env.get("PATH", "")
            try:
                text = subprocess.run([args.cuobjdump, "--dump-sass", path], check=True,
                                      capture_output=True, text=True, env=env).stdout
            except OSError as e:
                print(f"error: cannot run {args.cuobjdump} ({e}); scripts/install_deps.sh installs "
                      "it from PyPI (nvidia-cuda-cuobjdump) when the CUDA toolkit has none",
                      file=sys.stderr)
                return 2
            except subprocess.CalledProcessError as e:
                print(f"error: {args.cuobjdump} --dump-sass {path} failed: {e.stderr.strip()}",
                      file=sys.stderr)
                return 2
        try:
            sites, found = check_text(text, path)
        except ValueError as e:
            print(f"error: {path}: {e}", file=sys.stderr)
            return 2
        total_sites += sites
        problems += found
    for p in problems:
        print("PROBLEM " + p)
    if total_sites < args.min_sites:
        print(f"error: {total_sites} sparse GMMA instructions found, expected at least "
              f"{args.min_sites} (were the sm_90a kernels built?)")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
