"""PyTorch side of the training-throughput benchmark (bench/train/gobench is the GoMLX side).

Same models (by name), same batch, same optimizer (Adam, lr 1e-3), same loss (softmax
cross-entropy), a fixed random batch kept on the device, warm-up excluded, the median of
several timed rounds; prints one JSON line with the fields gobench prints.

    python torch_bench.py --model cnn --device cpu --batch 128 [--compile] [--threads N]
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def small_cnn(strided: bool) -> nn.Module:
    """conv3x3(32) -> ReLU -> maxpool 2 -> conv3x3(64) -> ReLU -> maxpool 2 -> linear 10;
    with strided, stride-2 convolutions replace the max-pools (as gobench's cnn-strided)."""
    if strided:
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 10))


def swin28() -> nn.Module:
    """timm's SwinTransformer with pkg/nn's SwinTiny28 configuration."""
    from timm.models.swin_transformer import SwinTransformer
    return SwinTransformer(img_size=28, patch_size=2, in_chans=1, num_classes=10, embed_dim=32,
                           depths=(2, 2), num_heads=(2, 4), window_size=7, mlp_ratio=2.0,
                           qkv_bias=True, drop_path_rate=0.0)


def resnext28() -> nn.Module:
    """pkg/nn's ResNeXtTiny28 with timm's Bottleneck blocks: a 3x3 stride-1 stem conv (16, no
    bias) + BN + ReLU (no max-pool), one bottleneck per stage with planes 16, 32, 64 (outputs
    64, 128, 256; stride 2 from the second stage), cardinality 4, base width 16, global
    average pooling, linear 10."""
    from timm.models.resnet import Bottleneck

    layers = [nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    inplanes = 16
    for i, planes in enumerate([16, 32, 64]):
        stride = 1 if i == 0 else 2
        out = planes * Bottleneck.expansion
        down = None
        if stride != 1 or inplanes != out:
            down = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        layers.append(Bottleneck(inplanes, planes, stride=stride, downsample=down, cardinality=4, base_width=16))
        inplanes = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, 10)]
    return nn.Sequential(*layers)


def timm_model(name: str, **kw) -> nn.Module:
    import timm
    return timm.create_model(name, pretrained=False, **kw)


# name -> (H, W, C, classes, cpu batch, gpu batch, constructor)
MODELS = {
    "cnn": dict(shape=(28, 28, 1), classes=10, cpu=128, gpu=256, make=lambda: small_cnn(False)),
    # gobench's cnn-reducemax computes the same max-pool another way; PyTorch's is the same module.
    "cnn-reducemax": dict(shape=(28, 28, 1), classes=10, cpu=128, gpu=256, make=lambda: small_cnn(False)),
    "cnn-strided": dict(shape=(28, 28, 1), classes=10, cpu=128, gpu=256, make=lambda: small_cnn(True)),
    "swin28": dict(shape=(28, 28, 1), classes=10, cpu=128, gpu=256, make=swin28),
    "resnext28": dict(shape=(28, 28, 1), classes=10, cpu=128, gpu=256, make=resnext28),
    "resnet50": dict(shape=(224, 224, 3), classes=1000, cpu=8, gpu=128, make=lambda: timm_model("resnet50")),
    "swin-t": dict(shape=(224, 224, 3), classes=1000, cpu=8, gpu=128,
                   make=lambda: timm_model("swin_tiny_patch4_window7_224", drop_path_rate=0.0)),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="cnn", choices=sorted(MODELS))
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=0, help="0: the model's CPU or GPU default")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (default mode)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (CPU)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per round")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    m = MODELS[a.model]
    res = dict(impl="torch-compile" if a.compile else "torch-eager", backend=a.device, model=a.model,
               threads=a.threads, torch=torch.__version__)
    try:
        run(a, m, res)
    except Exception as e:  # reported as a row of the table, like gobench's errors
        res["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        print(json.dumps(res), flush=True)
        return 1
    print(json.dumps(res), flush=True)
    return 0


def run(a, m, res) -> None:
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if a.device == "cuda":
        # GoMLX's xla:cuda uses TF32 for float32 matrix products; let PyTorch do the same.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        res["device"] = torch.cuda.get_device_name(0)
    else:
        res["device"] = "cpu"
    batch = a.batch or (m["gpu"] if a.device == "cuda" else m["cpu"])
    res["batch"] = batch
    h, w, c = m["shape"]
    model = m["make"]().to(dev).train()
    res["params"] = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    fwd = torch.compile(model) if a.compile else model
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(batch, c, h, w, generator=g).to(dev)
    y = torch.randint(0, m["classes"], (batch,), generator=g).to(dev)

    def steps(n: int) -> float:
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(fwd(x), y)
            loss.backward()
            opt.step()
        v = loss.item()  # waits for the device
        return v

    t = time.perf_counter()
    res["loss_first"] = steps(1)
    res["first_step_s"] = time.perf_counter() - t
    step_time = 0.0
    for _ in range(a.warmup - 1):
        t = time.perf_counter()
        steps(1)
        step_time = time.perf_counter() - t
    n = a.iters
    if step_time > 0 and a.budget > 0:
        n = min(a.iters, max(2, int(a.budget / step_time)))
    res["steps_per_round"] = n
    rounds = []
    cpu0 = time.process_time()
    for _ in range(a.repeats):
        t = time.perf_counter()
        res["loss_last"] = steps(n)
        rounds.append(batch * n / (time.perf_counter() - t))
    res["cpu_s_per_step"] = (time.process_time() - cpu0) / (a.repeats * n)
    res["rounds_examples_per_s"] = rounds
    res["examples_per_s"] = statistics.median(rounds)


if __name__ == "__main__":
    sys.exit(main())
