"""Writes timm_vit_digits.json: the state_dict keys, shapes and dtypes of the timm model that
the "digits" experiment's ViT (arch=vit, hidden=32) exports to, so the safetensors export test
can check names and shapes without PyTorch.

Run with the reference venv:  .venv-ref/bin/python pkg/export/testdata/gen_timm_keys.py
The kwargs must match digits.Timm (pkg/experiment/digits/digits.go).
"""
import json
import os

import timm

NAME = "vit_tiny_patch16_224"
KWARGS = dict(img_size=16, patch_size=4, in_chans=1, num_classes=10, embed_dim=32, depth=2,
              num_heads=2, mlp_ratio=2, qkv_bias=True, class_token=True, global_pool="token")

model = timm.create_model(NAME, pretrained=False, **KWARGS)
out = {
    "timm_version": timm.__version__,
    "name": NAME,
    "kwargs": KWARGS,
    "state_dict": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                   for k, v in model.state_dict().items()},
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "timm_vit_digits.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {path}: {len(out['state_dict'])} tensors")
