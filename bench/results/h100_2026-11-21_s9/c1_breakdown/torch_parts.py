# Per-op times of BERT-base pieces in PyTorch (same GPU, same call): SDPA attention, LayerNorm,
# GELU, and the fused residual add + LayerNorm as PyTorch eager runs it (two kernels).
import torch, torch.nn.functional as F
torch.backends.cuda.matmul.allow_tf32 = False
def t(fn, n=30):
    for _ in range(5): fn()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    for a, b in ev:
        a.record(); fn(); b.record()
    torch.cuda.synchronize()
    v = sorted(a.elapsed_time(b) for a, b in ev)
    return v[n // 2]
for B in (16, 64, 256):
    q, k, v = (torch.randn(B, 12, 384, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    x = torch.randn(B * 384, 768, device="cuda", dtype=torch.float16)
    r = torch.randn_like(x)
    h = torch.randn(B * 384, 3072, device="cuda", dtype=torch.float16)
    ln = torch.nn.LayerNorm(768).cuda().half()
    with torch.inference_mode():
        res = {}
        from torch.nn.attention import sdpa_kernel, SDPBackend
        for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION)):
            try:
                with sdpa_kernel(be):
                    res["sdpa_" + name] = t(lambda: F.scaled_dot_product_attention(q, k, v))
            except Exception as e:
                res["sdpa_" + name] = float("nan")
        res["sdpa_default"] = t(lambda: F.scaled_dot_product_attention(q, k, v))
        res["add_ln"] = t(lambda: ln(x + r))
        res["gelu_3072"] = t(lambda: F.gelu(h))
    flops = 4 * B * 12 * 384 * 384 * 64
    print(f"B={B}: " + "  ".join(f"{k} {v:.4f} ms" for k, v in res.items()) + f"  (sdpa_default {flops / res['sdpa_default'] / 1e9:.0f} TFLOP/s)")
