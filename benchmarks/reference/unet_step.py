"""Times one UNet step with classifier-free guidance (batch 2) in the reference stack
(diffusers 0.15.0 UNet2DConditionModel on PyTorch 1.13 CPU), random weights.

    /work/refenv/bin/python benchmarks/reference/unet_step.py --config benchmarks/configs/unet_mid.json \
        --latent 32 --context 77 --threads 2 --repeats 5

Prints one line: config, threads, min/median seconds per step."""
import argparse, json, statistics, time

import torch
from diffusers import UNet2DConditionModel

p = argparse.ArgumentParser()
p.add_argument("--config", required=True)
p.add_argument("--latent", type=int, default=32)
p.add_argument("--context", type=int, default=77)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--repeats", type=int, default=5)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
config = json.load(open(a.config))
unet = UNet2DConditionModel.from_config(config).eval()
with torch.no_grad():
    for prm in unet.parameters():
        prm.normal_(0, 0.02)
sample = torch.randn(2, 4, a.latent, a.latent)
context = torch.randn(2, a.context, config["cross_attention_dim"])
times = []
with torch.no_grad():
    unet(sample, 981, encoder_hidden_states=context)  # warm-up
    for _ in range(a.repeats):
        t = time.perf_counter()
        unet(sample, 981, encoder_hidden_states=context)
        times.append(time.perf_counter() - t)
print(f"reference unet step {a.config} latent {a.latent} threads {a.threads}: "
      f"min {min(times):.3f} s median {statistics.median(times):.3f} s")
