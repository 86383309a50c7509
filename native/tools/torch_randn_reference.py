#!/usr/bin/env python3
"""Writes native/test/data/torch_randn.json: what torch.randn draws from
torch.Generator("cpu").manual_seed(seed), for the engine's TorchGenerator to be checked against.

A dev tool (torch is never a runtime dependency): `pip install torch==2.13.0`, then
    python3 native/tools/torch_randn_reference.py [--out native/test/data/torch_randn.json]

Each case is one generator and a list of successive torch.randn calls on it (diffusers'
Sana-Sprint draws its initial latents and then noise at every step from one generator). Every
draw is recorded by its sha256 over the little-endian float32 bytes (bit-exactness), its first
and last values and sums (readable failures), and, when small, all of its values.
"""

import argparse
import hashlib
import json
import math
from pathlib import Path

import torch

FULL_VALUES_UP_TO = 64
EDGE = 8

# (name, seed, shapes of the successive torch.randn calls)
CASES = [
    ("SANA 1024px latents (1, 32, 32, 32)", 0, [(1, 32, 32, 32)]),
    ("SANA 1024px latents, seed 42", 42, [(1, 32, 32, 32)]),
    ("batch of two at 512px (2, 32, 16, 16)", 1234, [(2, 32, 16, 16)]),
    ("4K latents (1, 32, 128, 128)", 0, [(1, 32, 128, 128)]),
    ("the golden pipeline_sana_cfg latents (seed 4000)", 4000, [(2, 8, 4, 6)]),
    ("small latents (1, 8, 2, 3)", 0, [(1, 8, 2, 3)]),
    ("Sana-Sprint 2 steps at 1024px: latents, then noise at each step", 2025, [(1, 32, 32, 32)] * 3),
    ("the golden pipeline_sprint_2steps step noise (seed 4099, latents given)", 4099, [(2, 8, 4, 6)] * 2),
    # Under 16 elements torch takes a per-element double Box-Muller whose second value stays
    # cached in the generator, across calls and across the vectorised path in between.
    ("one element, three times", 7, [(1,)] * 3),
    ("five elements, three times", 7, [(5,)] * 3),
    ("fifteen elements, three times", 7, [(15,)] * 3),
    ("sixteen elements, three times", 7, [(16,)] * 3),
    ("seventeen elements, three times (ragged end redrawn)", 7, [(17,)] * 3),
    ("thirty-three elements, three times", 7, [(33,)] * 3),
    ("a thousand elements, three times", 7, [(1000,)] * 3),
    ("mixed sizes keep the cached normal across a vectorised draw", 3, [(5,), (20,), (3,), (1,), (16,), (7,)]),
    ("empty draw between two small ones", 11, [(3,), (0,), (3,)]),
    # torch seeds mt19937 with the low 32 bits of the seed.
    ("seed 2^32 - 1", 2**32 - 1, [(1, 8, 4, 6)]),
    ("seed 2^32 (same values as seed 0)", 2**32, [(1, 8, 4, 6)]),
    ("seed 2^63 - 1", 2**63 - 1, [(1, 8, 4, 6)]),
    ("seed 2^64 - 1", 2**64 - 1, [(1, 8, 4, 6), (3,)]),
]


def describe(values: torch.Tensor) -> dict:
    flat = values.reshape(-1).to(torch.float32).contiguous()
    raw = flat.numpy().astype("<f4", copy=False).tobytes()
    as_list = [float(v) for v in flat.tolist()]
    draw = {
        "count": len(as_list),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "head": as_list[:EDGE],
        "tail": as_list[-EDGE:] if as_list else [],
        "sum": math.fsum(as_list),
        "sumSquares": math.fsum(v * v for v in as_list),
    }
    if len(as_list) <= FULL_VALUES_UP_TO:
        draw["values"] = as_list
    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "test" / "data" / "torch_randn.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()

    capability = torch.backends.cpu.get_cpu_capability()
    # The engine follows the AVX2 kernel (AVX-512 builds run the same one); torch's portable
    # kernel (DEFAULT, e.g. on ARM) differs in the last bits and would make wrong references.
    if capability not in ("AVX2", "AVX512"):
        raise SystemExit(f"torch runs its {capability} kernels here; reference values need AVX2 or AVX512")

    cases = []
    for name, seed, shapes in CASES:
        generator = torch.Generator("cpu").manual_seed(seed)
        draws = []
        for shape in shapes:
            draw = describe(torch.randn(shape, generator=generator, dtype=torch.float32))
            draw["shape"] = list(shape)
            draws.append(draw)
        cases.append({"name": name, "seed": str(seed), "draws": draws})

    data = {
        "about": "torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed), dtype=torch.float32), "
        "successive calls per case; sha256 over little-endian float32 bytes",
        "generator": "native/tools/torch_randn_reference.py",
        "torch_version": torch.__version__,
        "cpu_capability": capability,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
