#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors into fuzz/corpus/safetensors/.

Standard library only, and independent of sparse24's own writer: the seeds double as a check
that files built from the format description alone load.  Run it again after a format change.
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), written in this order."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def nibble(first, second):
    return first | (second << 2)


def compressed(name, dtype, esize, rows, cols, keep):
    """A 2:4 tensor whose every group keeps the positions `keep` (a pair), values 1, 2, ..."""
    groups = cols // 4
    values = b""
    for i in range(rows * cols // 2):
        if dtype == "F32":
            values += struct.pack("<f", float(i + 1))
        elif dtype == "F16":
            values += struct.pack("<e", float(i + 1))
        else:  # one-byte dtypes: small integers
            values += bytes([(i % 7) + 1])
    meta = b""
    for _ in range(rows):
        row = bytearray((cols + 7) // 8)
        for g in range(groups):
            n = nibble(*keep)
            row[g // 2] |= n if g % 2 == 0 else n << 4
        meta += bytes(row)
    listing = {name: {"dtype": dtype, "shape": [rows, cols]}}
    return ([(name + ".s24_values", dtype, [rows, cols // 2], values),
             (name + ".s24_meta", "U8", [rows, (cols + 7) // 8], meta)],
            json.dumps({"format_version": 1, "tensors": listing}, separators=(",", ":"),
                       sort_keys=True))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    seeds["empty"] = safetensors_bytes([])
    seeds["one_f32"] = safetensors_bytes([("w", "F32", [2, 2], struct.pack("<4f", 1, -2, 0, 3.5))])
    seeds["dtypes_meta"] = safetensors_bytes(
        [("a", "I64", [2], struct.pack("<2q", -1, 7)),
         ("b", "F32", [], struct.pack("<f", 0.25)),
         ("c", "BF16", [1, 3], b"\x80\x3f\x00\x40\x40\x40"),
         ("d", "F16", [0, 5], b""),
         ("e", "I32", [1], struct.pack("<i", 5)),
         ("f", "F8_E4M3", [2], b"\x38\xb8"),
         ("g", "F8_E5M2", [2], b"\x3c\xbc"),
         ("h", "I8", [3], b"\x01\xff\x00"),
         ("i", "U8", [1], b"\xff")],
        {"format": "pt", "note": "seed"})
    tensors, listing = compressed("layer.0.w", "F16", 2, 2, 8, (0, 2))
    seeds["compressed_f16"] = safetensors_bytes(tensors, {"sparse24": listing})
    tensors, listing = compressed("enc.w", "F32", 4, 3, 12, (1, 3))
    bias = [("enc.b", "F32", [3], struct.pack("<3f", 1, 2, 3))]
    seeds["compressed_f32_odd_groups"] = safetensors_bytes(tensors + bias,
                                                           {"sparse24": listing, "format": "pt"})
    tensors, listing = compressed("q", "I8", 1, 1, 4, (2, 3))
    seeds["compressed_i8"] = safetensors_bytes(tensors, {"sparse24": listing})
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
