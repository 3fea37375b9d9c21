#!/usr/bin/env python3
"""Cases for scripts/check_wgmma_sp_sass.py on small SASS listings in cuobjdump's format.

The listings are written by hand in the shapes that ptxas produces for the sm_90a GEMM's k-loop
(bench/NOTES.md, session 15): the shipped form (consecutive k-blocks' metadata in different
registers), the rolled form that gave wrong products on the GPU (one register set reloaded while
the previous batch is in flight), and the ways a register can be written (wide loads, a called
subroutine, a predicate-first shuffle)."""

import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "check_wgmma_sp_sass.py")
spec = importlib.util.spec_from_file_location("check_wgmma_sp_sass", SCRIPT)
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)

SP = "HGMMA.SP.64x128x32.F32 R24, gdesc[UR8], R24, {meta}, 0x0{gsb}"
DENSE = "HGMMA.64x64x16.F32 R24, gdesc[UR8], R24{gsb}"
# A commit group of two sparse GMMA (as the GEMM issues them), the second with metadata R10.
GROUP_R10 = [SP.format(meta="R12", gsb=""), SP.format(meta="R10", gsb=", gsb0")]


def listing(lines, name="kernel"):
    """cuobjdump text for `lines`: 'label:' names the next address; a trailing label operand (BRA,
    CALL) becomes that address."""
    labels, addr, body = {}, 0, []
    for line in lines:
        if line.endswith(":"):
            labels[line[:-1]] = addr
        else:
            body.append((addr, line))
            addr += 0x10
    out = [f"\t\tFunction : {name}"]
    for a, line in body:
        words = line.split()
        if words[-1] in labels:  # a branch or call target
            line = " ".join(words[:-1] + [hex(labels[words[-1]])])
        pred, _, rest = line.partition(" ") if line.startswith("@") else ("", "", line)
        out.append(f"        /*{a:04x}*/ {pred:>19} {rest} ;   /* 0x0000000000000000 */")
        out.append("                                                   /* 0x0000000000000000 */")
    return "\n".join(out) + "\n"


def problems(lines):
    functions = checker.parse_functions(listing(lines))
    sites, found = checker.check_function("kernel", functions["kernel"])
    return sites, found


def kloop(stage_a, stage_b=None, depbar="0x1"):
    """A k-loop: each stage loads its metadata (LDS), issues two sparse GMMA and waits."""
    def stage(regs):
        return [f"LDS R{regs[0]}, [R2]", f"LDS R{regs[1]}, [R2+0x80]", "WARPGROUP.ARRIVE",
                SP.format(meta=f"R{regs[0]}", gsb=""), SP.format(meta=f"R{regs[1]}", gsb=", gsb0"),
                f"WARPGROUP.DEPBAR.LE gsb0, {depbar}"]
    body = ["top:"] + stage(stage_a) + (stage(stage_b) if stage_b else [])
    return body + ["@P0 BRA top", "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"]


class CheckerCases(unittest.TestCase):
    def test_unrolled_loop_with_two_register_sets_is_clean(self):
        sites, found = problems(kloop((10, 11), (12, 13)))
        self.assertEqual(sites, 4)
        self.assertEqual(found, [])

    def test_rolled_loop_reloading_in_flight_metadata_is_flagged(self):
        sites, found = problems(kloop((10, 11)))
        self.assertEqual(sites, 2)
        self.assertEqual(len(found), 2, found)
        self.assertTrue(all("LDS writes R1" in p for p in found), found)

    def test_unrolled_loop_sharing_one_register_set_is_flagged(self):
        _, found = problems(kloop((10, 11), (10, 11)))
        self.assertGreaterEqual(len(found), 2, found)

    def test_waiting_for_every_group_before_the_reload_is_clean(self):
        _, found = problems(kloop((10, 11), depbar="0x0"))
        self.assertEqual(found, [])

    def test_straight_line_write_before_the_depbar_is_flagged(self):
        _, found = problems([*GROUP_R10, "MOV R10, R3",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
        self.assertEqual(len(found), 1, found)
        self.assertIn("MOV writes R10", found[0])

    def test_write_after_the_retiring_depbar_is_clean(self):
        _, found = problems([*GROUP_R10, "WARPGROUP.DEPBAR.LE gsb0, 0x0",
                             "MOV R10, R3", "EXIT"])
        self.assertEqual(found, [])

    def test_metadata_of_an_uncommitted_gmma_is_protected(self):
        _, found = problems([SP.format(meta="R10", gsb=""), "IADD3 R10, R10, 0x1, RZ",
                             DENSE.format(gsb=", gsb0"), "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
        self.assertEqual(len(found), 1, found)

    def test_a_later_group_lets_depbar_one_retire_the_sparse_group(self):
        _, found = problems([*GROUP_R10, DENSE.format(gsb=", gsb0"),
                             "WARPGROUP.DEPBAR.LE gsb0, 0x1", "MOV R10, R3",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
        self.assertEqual(found, [])

    def test_wide_and_multi_register_writes(self):
        for write in ("LDS.64 R9, [R2]", "LDS.128 R8, [R2]", "IMAD.WIDE.U32 R9, R3, R4, RZ",
                      "LDSM.16.M88.4 R8, [R2]", "CS2R R10, SRZ", "SHFL.IDX PT, R10, R3, RZ, 0x1f",
                      "LOP3.LUT P0, R10, R3, 0x4, RZ, 0xc0, !PT"):
            with self.subTest(write=write):
                _, found = problems([*GROUP_R10, write,
                                     "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
                self.assertEqual(len(found), 1, found)

    def test_reads_and_predicate_writes_are_not_writes(self):
        for read in ("ISETP.NE.AND P0, PT, R10, RZ, PT", "STS [R2], R10", "SHF.L.U64.HI R11, R3, 0x1, R4",
                     "@P0 BRA end", "FSETP.GT.AND P1, PT, R10, R3, PT"):
            with self.subTest(read=read):
                _, found = problems([*GROUP_R10, read, "end:",
                                     "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
                self.assertEqual(found, [])

    def test_a_called_subroutine_that_writes_the_register_is_flagged(self):
        _, found = problems([*GROUP_R10, "CALL.REL.NOINC sub",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT", "sub:", "FADD R10, R3, R4",
                             "RET.REL.NODEC R20 0x0"])
        self.assertEqual(len(found), 1, found)
        self.assertIn("CALL", found[0])

    def test_an_indirect_jump_with_a_group_in_flight_is_an_error(self):
        _, found = problems([*GROUP_R10, "BRX R4 -0x10",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
        self.assertEqual(len(found), 1, found)
        self.assertIn("indirect jump", found[0])

    def test_the_hazard_is_found_only_on_the_path_that_has_it(self):
        # The write sits on the branch taken before the wait on one path only.
        _, found = problems([*GROUP_R10, "@P0 BRA late",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "late:", "MOV R10, R3",
                             "WARPGROUP.DEPBAR.LE gsb0, 0x0", "EXIT"])
        self.assertEqual(len(found), 1, found)

    def test_a_serialized_pipeline_is_flagged(self):
        # What ptxas emits when it serializes (C751x): one GMMA per group, drained at once.
        lines = []
        for meta in ("R10", "R11", "R10", "R11"):
            lines += ["WARPGROUP.ARRIVE", SP.format(meta=meta, gsb=", gsb0"),
                      "WARPGROUP.DEPBAR.LE gsb0, 0x0"]
        _, found = problems(lines + ["EXIT"])
        self.assertEqual(len(found), 1, found)
        self.assertIn("serialized", found[0])

    def test_pipelined_groups_are_not_serialized(self):
        # The GEMM's tail: the last group drained at once, the ones before it kept in flight.
        _, found = problems(kloop((10, 11), (12, 13)))
        self.assertEqual(found, [])
        self.assertFalse(checker.is_serialized(checker.parse_functions(
            listing(kloop((10, 11), depbar="0x0")))["kernel"]))

    def test_metadata_operand_of_8_bit_forms(self):
        for op in ("IGMMA.SP.64x128x64.S8.S8 R88, gdesc[UR12], R88, UP0, R167",
                   "QGMMA.SP.64x128x64.F32.E4M3.E5M2 R88, gdesc[UR12], R88, R166"):
            with self.subTest(op=op):
                ins = checker.parse_functions(listing([op]))["kernel"][0]
                self.assertTrue(ins.is_sparse_gmma())
                self.assertEqual(checker.metadata_register(ins), int(op.rsplit("R", 1)[1]))

    def test_command_line_exit_status_and_min_sites(self):
        with tempfile.TemporaryDirectory() as d:
            def run(lines, *extra):
                path = os.path.join(d, "k.sass")
                with open(path, "w") as f:
                    f.write(listing(lines))
                return subprocess.run([sys.executable, SCRIPT, "--sass", path, *extra],
                                      capture_output=True, text=True)
            self.assertEqual(run(kloop((10, 11), (12, 13))).returncode, 0)
            bad = run(kloop((10, 11)))
            self.assertEqual(bad.returncode, 1)
            self.assertIn("PROBLEM", bad.stdout)
            self.assertEqual(run(kloop((10, 11), (12, 13)), "--min-sites", "5").returncode, 1)
            self.assertEqual(run(["MOV R1, R2", "EXIT"], "--min-sites", "1").returncode, 1)
            missing = subprocess.run([sys.executable, SCRIPT, "--cuobjdump", "/nonexistent/cuobjdump",
                                      SCRIPT], capture_output=True, text=True)
            self.assertEqual(missing.returncode, 2)
            self.assertIn("install_deps.sh", missing.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
