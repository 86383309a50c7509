"""The reference for sana_gemma_bench: transformers' Gemma2Model (eager attention, float32) with the
same random-weight Gemma-2-2B configuration and prompt lengths, on 2 threads by default.

    python3 native/bench/gemma_torch_reference.py [--tokens 300,493] [--reps 2] [--threads 2] [--vocab 16384]

Run it next to `npm run bench -- --gemma` on the same machine: both print the best encode time per
length, so their ratio compares the engine with PyTorch under the same conditions.
"""

import argparse
import resource
import time

import torch
from transformers import Gemma2Config, Gemma2Model


def encode_gemm_flops(tokens: int) -> float:
    """Multiply-adds x 2 of the 26 layers' projections (q|k|v, o, gate|up, down)."""
    d, q, kv, inter = 2304, 2048, 1024, 9216
    return 26 * 2 * tokens * (d * (q + 2 * kv) + q * d + d * 2 * inter + inter * d)


def sgemm_rate(reps: int = 3) -> float:
    """GFLOP/s of torch's own float32 matmul on the bench's reference shape, best of reps."""
    a, b = torch.randn(1024, 1152), torch.randn(4608, 1152)
    a @ b.T
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b.T
        best = min(best, time.perf_counter() - t0)
    return 2 * 1024 * 1152 * 4608 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", default="300,493")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=16384)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    # gemma-2-2b-it's configuration (SANA's text encoder), smaller embedding table.
    config = Gemma2Config(
        vocab_size=args.vocab,
        hidden_size=2304,
        intermediate_size=9216,
        num_hidden_layers=26,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0,
        sliding_window=4096,
        hidden_activation="gelu_pytorch_tanh",
        attn_implementation="eager",
    )
    t0 = time.perf_counter()
    model = Gemma2Model(config).eval().float()
    build_s = time.perf_counter() - t0

    lengths = [int(n) for n in args.tokens.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model built in {build_s:.1f} s")
    with torch.inference_mode():
        for n in lengths:
            ids = (torch.arange(n) * 7919 % (args.vocab - 3) + 3).unsqueeze(0)
            ids[0, 0] = 2
            mask = torch.ones_like(ids)
            model(input_ids=ids, attention_mask=mask)  # warm-up
            best, rate = float("inf"), 0.0
            for _ in range(args.reps):
                rate = max(rate, sgemm_rate())
                t0 = time.perf_counter()
                model(input_ids=ids, attention_mask=mask)
                best = min(best, time.perf_counter() - t0)
            flops = encode_gemm_flops(n)
            print(
                f"| transformers encode, {n} tokens | {best:.3f} s ({flops / best / 1e9:.1f} GFLOP/s in its "
                f"projections; torch sgemm 1024x1152x4608: {rate:.1f} GFLOP/s) |",
                flush=True,
            )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
