#!/usr/bin/env python3
"""Exports a model package (.safetensors with the pix2pix manifest) to ONNX, for `bench infer --onnx` (not in CI).

Run with Debian's PyTorch (apt-get install python3-torch): /usr/bin/python3 export_onnx.py PACKAGE.safetensors OUT.onnx
The generator is the reference implementation's U-Net (tests/fixtures/pytorch/make_fixture.py), in eval mode, with a
dynamic batch axis; the package's weights are read from the safetensors file directly (no safetensors package needed).
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "pytorch"))
from make_fixture import UnetGenerator  # noqa: E402

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
DOWNS = {"unet_32": 5, "unet_64": 6, "unet_128": 7, "unet_256": 8}


def read_safetensors(path):
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = bytearray(data[begin:end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"]).clone()
    return tensors, json.loads(header["__metadata__"]["pix2pix"])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state, manifest = read_safetensors(sys.argv[1])
    if manifest["generator"] not in DOWNS or manifest.get("norm", "batch") != "batch":
        sys.exit(f"only U-Nets with batch norm: this package has {manifest['generator']}, {manifest.get('norm')}")
    net = UnetGenerator(manifest["inputChannels"], manifest["outputChannels"], DOWNS[manifest["generator"]],
                        ngf=manifest["generatorFilters"], norm_layer=nn.BatchNorm2d, use_dropout=manifest["dropout"])
    net.load_state_dict(state)
    net.eval()
    example = torch.zeros(1, manifest["inputChannels"], manifest["trainingHeight"], manifest["trainingWidth"])
    torch.onnx.export(net, example, sys.argv[2], input_names=["input"], output_names=["output"], opset_version=13,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    print(f"torch {torch.__version__}: {manifest['generator']} → {sys.argv[2]}")


if __name__ == "__main__":
    main()
