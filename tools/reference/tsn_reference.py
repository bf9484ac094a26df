"""The TSN of tsn-dist in plain PyTorch: torchvision's ResNet, dropout, a linear classifier and
the average over frames (TSN's consensus), with our checkpoint names (backbone.*, head.fc.*),
and loading the files tsn-dist writes. What tools/bench/bench_pytorch_tsn.py times, what
tests/train/step_parity.py replays steps with, and how the Python checks open our files."""
import pickletools
import sys
import zipfile

import torch
import torchvision

SAFE_GLOBALS = {"torch._utils._rebuild_tensor_v2", "collections.OrderedDict"}


def check_safe_globals(path):
    """Every global the pickle of a torch.save file names is one that torch.load's safe loader
    (weights_only=True, the default since PyTorch 2.6) allows; exits naming the first that is
    not. Checked on the pickle itself, since PyTorch 1.13's safe loader cannot read floats."""
    with zipfile.ZipFile(path) as z:
        pickle = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    strings = []
    for op, arg, _ in pickletools.genops(pickle):
        if op.name == "GLOBAL":
            name = arg.replace(" ", ".")
        elif op.name == "STACK_GLOBAL":
            name = ".".join(strings[-2:])
        else:
            if isinstance(arg, str):
                strings.append(arg)
            continue
        if name not in SAFE_GLOBALS and not (name.startswith("torch.") and name.endswith("Storage")):
            sys.exit(f"{path}: names {name}, which torch.load(weights_only=True) refuses")


def load(path):
    """A file tsn-dist wrote (checkpoint, --save-inputs, --save-steps), on the CPU, after
    check_safe_globals; with weights_only=True where PyTorch >= 2 can read it so."""
    check_safe_globals(path)
    return torch.load(path, map_location="cpu", weights_only=int(torch.__version__[0]) >= 2)


class Tsn(torch.nn.Module):
    def __init__(self, backbone, num_classes, dropout):
        super().__init__()
        self.backbone = getattr(torchvision.models, backbone)()
        features = self.backbone.fc.in_features
        self.backbone.fc = torch.nn.Identity()
        self.dropout = torch.nn.Dropout(dropout)
        self.fc = torch.nn.Linear(features, num_classes)

    def forward(self, clips):
        """clips [N, T, 3, H, W] -> scores [N, K]."""
        n, t = clips.shape[:2]
        scores = self.fc(self.dropout(self.backbone(clips.flatten(0, 1))))
        return scores.view(n, t, -1).mean(1)

    def named_like_ours(self):
        """Parameters and buffers under tsn-dist's names."""
        out = {f"backbone.{k}": v for k, v in self.backbone.state_dict(keep_vars=True).items()}
        out.update({f"head.fc.{k}": v for k, v in self.fc.state_dict(keep_vars=True).items()})
        return out

    def load_ours(self, state):
        """Loads a state dict in tsn-dist's names (a checkpoint's "model"); every tensor."""
        mine = self.named_like_ours()
        missing = sorted(set(mine) - set(state))
        unknown = sorted(set(state) - set(mine))
        if missing or unknown:
            raise KeyError(f"missing {missing[:3]}, unknown {unknown[:3]}")
        with torch.no_grad():
            for name, tensor in mine.items():
                tensor.copy_(state[name])

    def batch_norms(self):
        return [m for m in self.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    def configure_bn(self, partial_bn, norm_eval):
        """TSN's partial BN (every BatchNorm but the first frozen) and MMAction2's norm_eval
        (every BatchNorm keeps its statistics); call after train()."""
        for i, bn in enumerate(self.batch_norms()):
            if partial_bn and i > 0:
                bn.weight.requires_grad_(False)
                bn.bias.requires_grad_(False)
            if norm_eval or (partial_bn and i > 0):
                bn.eval()
