"""PyTorch definitions of the thirteen networks (and MNASNet), small, for tools/torch_export_check.py.

torchvision supplies MobileNetV2/V3, ShuffleNetV2, SqueezeNet 1.1, ResNeXt-50 and MNASNet; the others
are written here the way their reference code writes them (channel shuffle through
x.data.size() / view / transpose / view, CondenseNet's index_select, Xception's separable convs).
BatchNorm statistics are random, so a wrong fold shows in the outputs.
"""
import torch, torch.nn as nn, torch.nn.functional as F
import torchvision.models as tvm

def cbr(i, o, k, s=1, g=1, act="relu6"):
    layers = [nn.Conv2d(i, o, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(o)]
    if act == "relu6": layers.append(nn.ReLU6(inplace=True))
    elif act == "relu": layers.append(nn.ReLU(inplace=True))
    elif act == "leaky": layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)

def channel_shuffle(x, groups):
    batchsize, num_channels, height, width = x.data.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, -1, height, width)

class MobileNetV1(nn.Module):
    def __init__(s, w=0.5, classes=100):
        super().__init__()
        c = lambda n: int(n * w)
        cfg = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
        layers = [cbr(3, c(32), 3, 2)]; i = c(32)
        for o, st in cfg:
            layers += [cbr(i, i, 3, st, g=i), cbr(i, c(o), 1)]; i = c(o)
        s.features = nn.Sequential(*layers); s.pool = nn.AdaptiveAvgPool2d(1); s.fc = nn.Linear(i, classes)
    def forward(s, x):
        x = s.pool(s.features(x)); return s.fc(x.view(x.size(0), -1))

class SV1Unit(nn.Module):
    def __init__(s, i, o, g, stride, first):
        super().__init__()
        s.stride, s.g = stride, g
        mid = o // 4
        out = o - i if stride == 2 else o
        s.g1 = 1 if first else g
        s.c1 = cbr(i, mid, 1, g=s.g1, act="relu")
        s.dw = cbr(mid, mid, 3, stride, g=mid, act=None)
        s.c2 = cbr(mid, out, 1, g=g, act=None)
    def forward(s, x):
        y = s.c1(x)
        y = channel_shuffle(y, s.g)
        y = s.c2(s.dw(y))
        if s.stride == 2:
            return F.relu(torch.cat((F.avg_pool2d(x, 3, 2, 1), y), 1))
        return F.relu(x + y)

class ShuffleNetV1(nn.Module):
    def __init__(s, g=3, classes=100):
        super().__init__()
        outs = [24, 120, 240, 480]
        s.stem = cbr(3, 24, 3, 2, act="relu"); s.pool = nn.MaxPool2d(3, 2, 1)
        units = []; i = 24
        for st, rep in enumerate([2, 3, 2]):
            o = outs[st + 1]
            for r in range(rep):
                units.append(SV1Unit(i, o, g, 2 if r == 0 else 1, st == 0 and r == 0)); i = o
        s.units = nn.Sequential(*units); s.fc = nn.Linear(i, classes)
    def forward(s, x):
        x = s.units(s.pool(s.stem(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return s.fc(x)

class Sep(nn.Module):
    def __init__(s, i, o):
        super().__init__()
        s.dw = nn.Conv2d(i, i, 3, 1, 1, groups=i, bias=False); s.pw = nn.Conv2d(i, o, 1, bias=False)
    def forward(s, x): return s.pw(s.dw(x))

class XBlock(nn.Module):
    def __init__(s, i, o, reps, stride, start_relu=True, grow_first=True):
        super().__init__()
        s.skip = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o)) if (o != i or stride != 1) else None
        rep = []; f = i
        if grow_first:
            rep += [nn.ReLU(inplace=True), Sep(i, o), nn.BatchNorm2d(o)]; f = o
        for _ in range(reps - 1):
            rep += [nn.ReLU(inplace=True), Sep(f, f), nn.BatchNorm2d(f)]
        if not grow_first:
            rep += [nn.ReLU(inplace=True), Sep(i, o), nn.BatchNorm2d(o)]
        if not start_relu: rep = rep[1:]
        else: rep[0] = nn.ReLU(inplace=False)
        if stride != 1: rep.append(nn.MaxPool2d(3, stride, 1))
        s.rep = nn.Sequential(*rep)
    def forward(s, x):
        y = s.rep(x)
        return y + (s.skip(x) if s.skip is not None else x)

class Xception(nn.Module):
    def __init__(s, classes=100, middle=2):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                               nn.Conv2d(16, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        b = [XBlock(32, 64, 2, 2, start_relu=False), XBlock(64, 128, 2, 2), XBlock(128, 182, 2, 2)]
        b += [XBlock(182, 182, 3, 1) for _ in range(middle)]
        b += [XBlock(182, 256, 2, 2, grow_first=False)]
        s.blocks = nn.Sequential(*b)
        s.tail = nn.Sequential(Sep(256, 384), nn.BatchNorm2d(384), nn.ReLU(inplace=True), Sep(384, 512), nn.BatchNorm2d(512), nn.ReLU(inplace=True))
        s.fc = nn.Linear(512, classes)
    def forward(s, x):
        x = s.tail(s.blocks(s.stem(x)))
        x = F.adaptive_avg_pool2d(x, (1, 1)); x = x.view(x.size(0), -1)
        return s.fc(x)

class TinyDarkNet(nn.Module):
    def __init__(s, classes=100):
        super().__init__()
        L = []; i = 3
        spec = [(16, 3), "M", (32, 3), "M", (16, 1), (128, 3), (16, 1), (128, 3), "M", (32, 1), (256, 3), (32, 1), (256, 3), "M", (64, 1), (512, 3), (64, 1), (512, 3), (128, 1)]
        for e in spec:
            if e == "M": L.append(nn.MaxPool2d(2, 2)); continue
            L.append(cbr(i, e[0], e[1], act="leaky")); i = e[0]
        L.append(nn.Conv2d(i, classes, 1)); s.f = nn.Sequential(*L)
    def forward(s, x):
        x = F.adaptive_avg_pool2d(s.f(x), 1).flatten(1)
        return F.softmax(x, dim=1)

class CondenseConv(nn.Module):
    def __init__(s, i, o, k, g):
        super().__init__()
        s.norm = nn.BatchNorm2d(i); s.relu = nn.ReLU(inplace=True)
        s.register_buffer("index", torch.randperm(i)[: i // 2].sort().values if k == 1 else torch.arange(i))
        s.conv = nn.Conv2d(len(s.index), o, k, 1, k // 2, groups=g, bias=False); s.g = g
    def forward(s, x):
        x = s.relu(s.norm(x))
        x = torch.index_select(x, 1, s.index)
        x = s.conv(x)
        return channel_shuffle(x, s.g)

class DenseLayer(nn.Module):
    def __init__(s, i, growth, g=4):
        super().__init__()
        s.conv1 = CondenseConv(i, 4 * growth, 1, g)
        s.norm2 = nn.BatchNorm2d(4 * growth); s.conv2 = nn.Conv2d(4 * growth, growth, 3, 1, 1, groups=g, bias=False)
    def forward(s, x):
        y = s.conv2(F.relu(s.norm2(s.conv1(x))))
        return torch.cat([x, y], 1)

class CondenseNet(nn.Module):
    def __init__(s, classes=100, growth=(8, 16, 32), blocks=(2, 3, 2)):
        super().__init__()
        s.stem = nn.Conv2d(3, 2 * growth[0], 3, 2, 1, bias=False); i = 2 * growth[0]
        L = []
        for bi, (gr, n) in enumerate(zip(growth, blocks)):
            for _ in range(n): L.append(DenseLayer(i, gr)); i += gr
            if bi != len(blocks) - 1: L.append(nn.AvgPool2d(2))
        s.features = nn.Sequential(*L); s.norm = nn.BatchNorm2d(i); s.fc = nn.Linear(i, classes)
    def forward(s, x):
        x = F.relu(s.norm(s.features(s.stem(x))))
        x = F.avg_pool2d(x, x.size(2)).view(x.size(0), -1)
        return s.fc(x)

class IGC1Block(nn.Module):
    def __init__(s, c, L, stride):
        super().__init__()
        s.L = L; s.M = c // L
        s.primary = nn.Sequential(nn.Conv2d(c, c, 3, stride, 1, groups=L, bias=False), nn.BatchNorm2d(c))
        s.secondary = nn.Sequential(nn.Conv2d(c, c, 1, groups=s.M, bias=False), nn.BatchNorm2d(c))
    def forward(s, x):
        y = channel_shuffle(s.primary(x), s.L)
        y = channel_shuffle(s.secondary(y), s.M)
        return F.relu(y + x) if y.shape == x.shape else F.relu(y)

class IGCv1(nn.Module):
    def __init__(s, classes=100):
        super().__init__()
        s.stem = cbr(3, 32, 3, 2, act="relu")
        s.b = nn.Sequential(IGC1Block(32, 4, 1), IGC1Block(32, 4, 1), nn.Conv2d(32, 64, 1), IGC1Block(64, 4, 2), IGC1Block(64, 4, 1))
        s.fc = nn.Linear(64, classes)
    def forward(s, x):
        x = s.b(s.stem(x)); return s.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

class IGC2Block(nn.Module):
    def __init__(s, c, stride):
        super().__init__()
        s.dw = nn.Sequential(nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c))
        s.g1 = nn.Sequential(nn.Conv2d(c, c, 1, groups=8, bias=False), nn.BatchNorm2d(c))
        s.g2 = nn.Sequential(nn.Conv2d(c, c, 1, groups=c // 8, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    def forward(s, x):
        y = s.g1(s.dw(x)); y = channel_shuffle(y, 8)
        y = s.g2(y); return channel_shuffle(y, y.size(1) // 8)

class IGCv2(nn.Module):
    def __init__(s, classes=100):
        super().__init__()
        s.stem = cbr(3, 32, 3, 2, act="relu")
        s.b = nn.Sequential(IGC2Block(32, 1), nn.Conv2d(32, 64, 1), IGC2Block(64, 2), IGC2Block(64, 1))
        s.fc = nn.Linear(64, classes)
    def forward(s, x):
        x = s.b(s.stem(x)); return s.fc(x.mean([2, 3]))

class IGC3Block(nn.Module):
    def __init__(s, i, o, stride, t=6, g=2):
        super().__init__()
        h = i * t; s.g = g; s.res = stride == 1 and i == o
        s.expand = cbr(i, h, 1, g=g); s.dw = cbr(h, h, 3, stride, g=h)
        s.project = nn.Sequential(nn.Conv2d(h, o, 1, groups=g, bias=False), nn.BatchNorm2d(o))
    def forward(s, x):
        y = channel_shuffle(s.expand(x), s.g)
        y = channel_shuffle(s.project(s.dw(y)), s.g)
        return x + y if s.res else y

class IGCv3(nn.Module):
    def __init__(s, classes=100):
        super().__init__()
        s.stem = cbr(3, 16, 3, 2)
        s.b = nn.Sequential(IGC3Block(16, 16, 1, t=1), IGC3Block(16, 24, 2), IGC3Block(24, 24, 1), IGC3Block(24, 32, 2), IGC3Block(32, 32, 1))
        s.head = cbr(32, 256, 1); s.fc = nn.Linear(256, classes)
    def forward(s, x):
        x = s.head(s.b(s.stem(x))); return s.fc(F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1))

NETS = {
    "mobilenetv1": (lambda: MobileNetV1(), 96),
    "mobilenetv2": (lambda: tvm.mobilenet_v2(num_classes=100), 96),
    "mobilenetv3l": (lambda: tvm.mobilenet_v3_large(num_classes=100), 96),
    "mobilenetv3s": (lambda: tvm.mobilenet_v3_small(num_classes=100), 96),
    "shufflenetv1": (lambda: ShuffleNetV1(), 96),
    "shufflenetv2": (lambda: tvm.shufflenet_v2_x0_5(num_classes=100), 96),
    "squeezenet": (lambda: tvm.squeezenet1_1(num_classes=100), 96),
    "resnext": (lambda: tvm.resnext50_32x4d(num_classes=100), 64),
    "mnasnet": (lambda: tvm.mnasnet0_5(num_classes=100), 96),
    "xception": (lambda: Xception(), 96),
    "tinydarknet": (lambda: TinyDarkNet(), 64),
    "condensenet": (lambda: CondenseNet(), 64),
    "igcv1": (lambda: IGCv1(), 64),
    "igcv2": (lambda: IGCv2(), 64),
    "igcv3": (lambda: IGCv3(), 64),
}

def make(name, seed=0):
    torch.manual_seed(seed)
    ctor, res = NETS[name]
    m = ctor().eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding mistakes show
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.3, 0.3)
    return m, res
