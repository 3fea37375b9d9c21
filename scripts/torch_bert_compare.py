#!/usr/bin/env python3
"""The PyTorch side of the BERT-base side by side (issue 5), run on the GPU machine.

Hugging Face transformers BertModel built from its default config (BERT-base: 12 layers, hidden
768, 12 heads, FFN 3072), random initialisation, no pooler, fp16 (or bf16), eval mode, on random
token ids with an all-ones attention mask. Timed:

  * dense eager:   model(input_ids, attention_mask, token_type_ids) as a PyTorch user runs it;
  * dense graph:   the same computation (embeddings, then the encoder without a mask: all ones)
                   captured once in a CUDA graph and replayed: kernel time, no host overhead
                   (HF's mask preparation inspects the mask on the host, which a capture
                   forbids; graphs run after all eager timings, so a failed capture cannot
                   disturb them);
  * cuSPARSELt eager / graph: every encoder Linear (q, k, v, attention output, fc1, fc2) pruned
                   to 2:4 by magnitude (the two largest |w| of every 4 along the input dimension)
                   and converted with torch.sparse.to_sparse_semi_structured (the cuSPARSELt
                   backend; PyTorch's CUTLASS backend is sm_80-only).

Each time is the median of CUDA-event timed calls after warm-up calls. Prints one JSON document
(also written to --json). With --ours FILE (the --json output of `sparse24 bert --device cuda`)
it also prints the side-by-side table of docs/BENCHMARKS.md.

usage: python3 scripts/torch_bert_compare.py [--batches 4,16,64,256] [--seq 384]
           [--dtype fp16|bf16] [--warmup 5] [--iters 20] [--json FILE] [--ours FILE]
"""
import argparse
import json
import sys
import time

import torch
from torch import nn


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def time_events(fn, warmup, iters):
    """Median ms of fn() over `iters` calls, each bracketed by its own CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for i in range(iters):
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return median([s.elapsed_time(e) for s, e in zip(starts, ends)])


def time_graph(fn, warmup, iters):
    """Median ms of replays of fn() captured once in a CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return time_events(graph.replay, warmup, iters)


def prune_24_(weight):
    """In place: keep the two largest |w| of every group of 4 along the input dimension."""
    groups = weight.reshape(-1, 4)
    keep = groups.abs().topk(2, dim=1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, keep, True)
    weight.copy_((groups * mask).reshape(weight.shape))


def encoder_linears(model):
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.startswith("encoder.layer.")]


def cosine(a, b):
    a = a.float().flatten()
    b = b.float().flatten()
    return (a @ b / (a.norm() * b.norm())).item()


def side_by_side(ours, torch_rows, seq):
    """Markdown table: our dense / 2:4 (eager and graph) next to PyTorch's, per batch."""
    by_batch = {r["batch"]: r for r in ours.get("timings", []) if r["seq"] == seq}

    def ms(v):
        return "-" if v is None else f"{v:.2f}"

    def x(a, b):
        return "-" if a is None or b is None or b <= 0 else f"{a / b:.2f}x"

    lines = [
        f"BERT-base, seq {seq}, {ours.get('dtype', '?')}, {ours.get('device', '?')}: "
        "ms per forward (median)",
        "",
        "| batch | ours dense | ours 2:4 | ours 2:4 / dense | ours dense graph | ours 2:4 graph "
        "| PyTorch dense | PyTorch cuSPARSELt | PyTorch dense graph | PyTorch cuSPARSELt graph "
        "| ours 2:4 vs PyTorch dense | ours dense vs PyTorch dense |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in torch_rows:
        o = by_batch.get(t["batch"], {})
        lines.append(
            f"| {t['batch']} | {ms(o.get('dense_ms'))} | {ms(o.get('sparse_ms'))} "
            f"| {x(o.get('dense_ms'), o.get('sparse_ms'))} | {ms(o.get('dense_graph_ms'))} "
            f"| {ms(o.get('sparse_graph_ms'))} | {ms(t['dense_ms'])} | {ms(t['cslt_ms'])} "
            f"| {ms(t.get('dense_graph_ms'))} | {ms(t.get('cslt_graph_ms'))} "
            f"| {x(t['dense_ms'], o.get('sparse_ms'))} | {x(t['dense_ms'], o.get('dense_ms'))} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="4,16,64,256")
    ap.add_argument("--seq", type=int, default=384)
    ap.add_argument("--dtype", choices=["fp16", "bf16"], default="fp16")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--no-graph", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--ours")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import transformers
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    torch.manual_seed(args.seed)
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    dev = "cuda"
    batches = [int(b) for b in args.batches.split(",")]
    cfg = transformers.BertConfig()
    model = transformers.BertModel(cfg, add_pooling_layer=False).to(dev, dtype).eval()
    report = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(),
        "cusparselt": torch.backends.cusparselt.is_available(),
        "cusparselt_version": getattr(torch.backends.cusparselt, "version", lambda: None)(),
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "dtype": args.dtype,
        "seq": args.seq,
        "rows": [],
    }
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{report['device']}, cuSPARSELt {report['cusparselt_version']}, "
          f"attention {report['attn_implementation']}", flush=True)

    inputs = {}
    for bs in batches:
        ids = torch.randint(1000, cfg.vocab_size, (bs, args.seq), device=dev)
        inputs[bs] = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    rows = {bs: {"batch": bs, "seq": args.seq} for bs in batches}

    def eager(tag, m):
        for bs in batches:
            ids, att, tt = inputs[bs]
            with torch.inference_mode():
                rows[bs][tag + "_ms"] = time_events(
                    lambda: m(input_ids=ids, attention_mask=att, token_type_ids=tt),
                    args.warmup, args.iters)
            print(f"  {tag:6s} eager batch {bs:4d}: {rows[bs][tag + '_ms']:.3f} ms", flush=True)

    def graphs(tag, m):
        # The forward without HF's host-side mask checks (a capture forbids host syncs): the
        # embeddings then the encoder with no mask (all ones); else the whole model without mask.
        for bs in batches:
            ids, _, tt = inputs[bs]
            variants = [
                ("embeddings+encoder", lambda: m.encoder(m.embeddings(input_ids=ids,
                                                                      token_type_ids=tt))[0]),
                ("model(mask=None)", lambda: m(input_ids=ids, token_type_ids=tt)[0]),
            ]
            rows[bs][tag + "_graph_ms"] = None
            errors = []
            for name, fn in variants:
                try:
                    with torch.inference_mode():
                        rows[bs][tag + "_graph_ms"] = time_graph(fn, args.warmup, args.iters)
                    rows[bs][tag + "_graph_how"] = name
                    break
                except Exception as e:  # noqa: BLE001 - report and go on
                    errors.append(f"{name}: {str(e)[:160]}")
                    torch.cuda.synchronize()
            if rows[bs][tag + "_graph_ms"] is None:
                rows[bs][tag + "_graph_error"] = " | ".join(errors)
            print(f"  {tag:6s} graph batch {bs:4d}: {rows[bs][tag + '_graph_ms']} ms "
                  f"{rows[bs].get(tag + '_graph_how', rows[bs].get(tag + '_graph_error'))}",
                  flush=True)

    eager("dense", model)

    # 2:4 by magnitude, then cuSPARSELt, on a copy (the dense model stays for its graph run).
    # The pruned dense output is the reference of the sparse one.
    import copy
    sparse = copy.deepcopy(model)
    SparseSemiStructuredTensor._FORCE_CUTLASS = False
    linears = encoder_linears(sparse)
    ids, att, tt = inputs[batches[0]]
    with torch.no_grad():
        for _, m in linears:
            prune_24_(m.weight.data)
        ref = sparse(input_ids=ids, attention_mask=att, token_type_ids=tt).last_hidden_state
    for _, m in linears:
        m.weight = nn.Parameter(to_sparse_semi_structured(m.weight.data), requires_grad=False)
    with torch.inference_mode():
        out = sparse(input_ids=ids, attention_mask=att, token_type_ids=tt).last_hidden_state
    report["cslt_vs_pruned_dense_cosine"] = cosine(out, ref)
    report["sparse_linears"] = len(linears)
    print(f"  cuSPARSELt model: {len(linears)} Linear layers 2:4, cosine to the pruned dense "
          f"model {report['cslt_vs_pruned_dense_cosine']:.6f}", flush=True)
    eager("cslt", sparse)
    if not args.no_graph:
        graphs("dense", model)
        graphs("cslt", sparse)

    report["rows"] = [rows[bs] for bs in batches]
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    if args.ours:
        with open(args.ours) as f:
            ours = json.load(f)
        print()
        print(side_by_side(ours, report["rows"], args.seq))
    return 0


if __name__ == "__main__":
    sys.exit(main())
