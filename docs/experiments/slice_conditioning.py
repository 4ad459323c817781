"""A toy for issue 15: can an eps-prediction diffusion model learn "appearance decides which frequency
slice moves" when the phase is random, and does it matter whether the slices are denoised together or
one at a time (our stage 1, with the bin k as an embedding)?

Data: 16x16 pictures with two square objects of one of 4 classes on a blank background (a one-hot class
map is the condition). The target is a K=4-slice "spectral volume" (real, imag per slice): the object of
class c moves only in slice c, with amplitude 1.5 and a random phase per object; everything else is 0.
Model: a small residual conv net with a timestep embedding, the condition encoded by two convs and
concatenated at the input; 10% condition dropout; the paper's scaled-linear 1000-step schedule. Scored
by sampling 32 new pictures with 50 DDIM steps at guidance w=1.75 and asking, per object, whether the
slice with the most energy is the object's class (chance 0.25).

  /usr/bin/python3 docs/experiments/slice_conditioning.py --mode joint|slice --cond concat|film|scale-shift --steps N [--bins G]
      [--corpus] [--sigma S] [--fixed N] [--rgb]

--mode joint denoises all K slices as channels of one tensor; --mode slice denoises one slice per
sample with k added to the timestep embedding (like stage 1). --cond film adds a per-pixel scale and
shift from the condition (and, in slice mode, from the embedding) in every block; scale-shift makes the
embedding scale and shift the normalized features (ADM's use_scale_shift_norm). --bins G (slice mode) makes a
slice G adjacent slices' channels, with K/G slice indices (unet.bins_per_slice in the project; G = K is joint).
--corpus gives the toy the demo's shape (K = 16 slices, 5 classes on slices 2, 5, 8, 11, 14, a slice within ±1
counts, objects of 2-4 px: chance about 0.19), --sigma adds noise of that std to every slice everywhere (the
normalized flow noise of the background), --fixed N trains on N fixed pictures, --rgb conditions on a
coloured picture (grey textured background, objects in their class's hue times a brightness texture). Results are in docs/experiments/README.md. Not part of the product: nothing imports it.
"""
import argparse
import colorsys
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

K, H, W, CLASSES, T = 4, 16, 16, 4, 1000
SLICE = list(range(CLASSES))  # the slice class c moves in
TOLERANCE = 0  # a sampled slice within this many of SLICE[c] counts as right
SIGMA = 0.0  # noise added to every slice everywhere (--sigma)
R_MIN, R_MAX = 2, 5  # object half-sizes drawn from [R_MIN, R_MAX)
RGB = False  # condition on a coloured picture instead of the class map (--rgb)
FIXED = 0  # train on this many fixed pictures (--fixed); 0 = new pictures every step
G = 1  # bins per slice in slice mode (--bins)
BETAS = torch.linspace(0.00085 ** .5, 0.012 ** .5, T) ** 2
ABAR = torch.cumprod(1 - BETAS, 0)


def pictures(n, g):
    """Condition [n, CLASSES+1, H, W] (one-hot class, last channel = background), volume [n, 2K, H, W], objects."""
    cond = torch.zeros(n, CLASSES + 1, H, W)
    cond[:, CLASSES] = 1
    volume = torch.zeros(n, 2 * K, H, W)
    objects = []
    for i in range(n):
        for _ in range(2):
            c = int(torch.randint(CLASSES, (1,), generator=g))
            r = int(torch.randint(R_MIN, R_MAX, (1,), generator=g))
            y, x = (int(v) for v in torch.randint(r, H - r, (2,), generator=g))
            m = torch.zeros(H, W, dtype=torch.bool)
            m[y - r:y + r, x - r:x + r] = True
            cond[i, :, m] = 0
            cond[i, c, m] = 1
            phase = float(torch.rand(1, generator=g)) * 2 * math.pi
            volume[i, 2 * SLICE[c], m] = 1.5 * math.cos(phase)
            volume[i, 2 * SLICE[c] + 1, m] = 1.5 * math.sin(phase)
            objects.append((i, m, c))
    volume += SIGMA * torch.randn(volume.shape, generator=g)
    if RGB:
        cond = rgb_picture(cond, g)
    return cond, volume, objects


def rgb_picture(onehot, g):
    """The class map as the corpus draws it: a grey textured background, each object its class's hue (the corpus's hue
    centres at saturation 0.75) times a random brightness texture: [n, 3, H, W] in [-1, 1]."""
    n = onehot.shape[0]
    hues = [0, 55, 120, 200, 280][:CLASSES]
    colours = torch.tensor([colorsys.hsv_to_rgb(h / 360, 0.75, 0.85) for h in hues])  # [CLASSES, 3]
    background = (0.5 + 0.15 * torch.randn(n, 1, H, W, generator=g)).expand(n, 3, H, W)
    texture = 0.7 + 0.6 * torch.rand(n, 1, H, W, generator=g)
    objects = torch.einsum('nchw,ck->nkhw', onehot[:, :CLASSES], colours) * texture
    inside = onehot[:, CLASSES:] == 0
    return (torch.where(inside, objects, background) * 2 - 1).clamp(-1, 1)


class Block(nn.Module):
    def __init__(self, ch, cond):
        super().__init__()
        self.cond = cond
        self.norm1, self.conv1 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.emb = nn.Linear(64, 2 * ch if cond == 'scale-shift' else ch)
        if cond == 'film':
            self.film_emb = nn.Linear(64, 32)
            self.film = nn.Conv2d(32, 2 * ch, 3, padding=1)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, h, emb, feat):
        y = self.conv1(F.silu(self.norm1(h)))
        if self.cond == 'scale-shift':
            scale, shift = self.emb(emb)[:, :, None, None].chunk(2, 1)
            y = self.norm2(y) * (1 + scale) + shift
        else:
            y = self.norm2(y + self.emb(emb)[:, :, None, None])
        if self.cond == 'film':
            z = F.silu(feat + self.film_emb(F.silu(emb))[:, :, None, None])
            scale, shift = self.film(z).chunk(2, 1)
            y = y * (1 + scale) + shift
        return h + self.conv2(F.silu(y))


class Net(nn.Module):
    def __init__(self, mode, cond, ch=32):
        super().__init__()
        self.slices = 2 * K if mode == 'joint' else 2 * G
        self.encode = nn.Sequential(nn.Conv2d(3 if RGB else CLASSES + 1, 32, 3, padding=1), nn.SiLU(), nn.Conv2d(32, 32, 3, padding=1))
        self.conv_in = nn.Conv2d(self.slices + 32, ch, 3, padding=1)
        self.blocks = nn.ModuleList([Block(ch, cond) for _ in range(4)])
        self.conv_out = nn.Conv2d(ch, self.slices, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 64))
        self.freq = nn.Embedding(K // G, 64)

    def forward(self, x, t, k, cond):
        angles = t[:, None].float() * torch.exp(-math.log(10000) * torch.arange(32) / 32)[None]
        emb = self.time(torch.cat([angles.sin(), angles.cos()], 1))
        if k is not None:
            emb = emb + self.freq(k)
        feat = self.encode(cond)
        h = self.conv_in(torch.cat([x, feat], 1))
        for block in self.blocks:
            h = block(h, emb, feat)
        return self.conv_out(h)


def train(mode, cond, steps, batch=16):
    net = Net(mode, cond)
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)
    if FIXED:  # a fixed training set, as a real dataset is
        fixed_cond, fixed_volume, _ = pictures(FIXED, g)
    for _ in range(steps):
        if FIXED:
            rows = torch.randint(FIXED, (batch,), generator=g)
            c, x0 = fixed_cond[rows], fixed_volume[rows]
        else:
            c, x0, _ = pictures(batch, g)
        c = torch.where((torch.rand(batch, generator=g) < 0.1)[:, None, None, None], torch.zeros_like(c), c)
        k = None
        if mode == 'slice':
            k = torch.randint(K // G, (batch,), generator=g)
            x0 = x0.view(batch, K // G, 2 * G, H, W)[torch.arange(batch), k]
        t = torch.randint(T, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = ABAR[t][:, None, None, None]
        loss = F.mse_loss(net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t, k, c), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@torch.no_grad()
def score(net, mode, n=32, w=1.75, ddim=50):
    g = torch.Generator().manual_seed(99)
    cond, _, objects = pictures(n, g)
    rows, k = n, None
    if mode == 'slice':  # every slice of every picture, each sampled on its own
        rows, k, cond = n * K // G, torch.arange(K // G).repeat(n), cond.repeat_interleave(K // G, 0)
    x = torch.randn(rows, net.slices, H, W, generator=g)
    times = torch.linspace(T - 1, 0, ddim).long()
    for i, t in enumerate(times):
        tt = torch.full((rows,), int(t))
        uncond = net(x, tt, k, torch.zeros_like(cond))
        eps = uncond + w * (net(x, tt, k, cond) - uncond)
        x0 = (x - (1 - ABAR[t]).sqrt() * eps) / ABAR[t].sqrt()
        a = ABAR[times[i + 1]] if i + 1 < len(times) else torch.tensor(1.0)
        x = a.sqrt() * x0 + (1 - a).sqrt() * eps
    x = x.reshape(n, 2 * K, H, W)
    right = sum(abs(int((x[i, :, m] ** 2).mean(1).view(K, 2).sum(1).argmax()) - SLICE[c]) <= TOLERANCE for i, m, c in objects)
    return right / len(objects)


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--mode', choices=['joint', 'slice'], required=True)
    p.add_argument('--cond', choices=['concat', 'film', 'scale-shift'], default='concat')
    p.add_argument('--steps', type=int, default=1500)
    p.add_argument('--bins', type=int, default=1, choices=[1, 2, 4])
    p.add_argument('--corpus', action='store_true', help="the demo's shape: K=16, 5 classes on slices 2,5,8,11,14, ±1 counts, objects 2-4 px")
    p.add_argument('--sigma', type=float, default=0.0, help='noise std added to every slice everywhere')
    p.add_argument('--fixed', type=int, default=0, help='train on N fixed pictures instead of new ones every step')
    p.add_argument('--rgb', action='store_true', help='condition on a coloured picture (hue by class) instead of the class map')
    args = p.parse_args()
    RGB = args.rgb
    G = args.bins
    SIGMA = args.sigma
    FIXED = args.fixed
    if args.corpus:
        K, CLASSES, SLICE, TOLERANCE, R_MIN, R_MAX = 16, 5, [2, 5, 8, 11, 14], 1, 1, 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = train(args.mode, args.cond, args.steps)
    print(f'mode={args.mode} bins={G} cond={args.cond} steps={args.steps} accuracy={score(model, args.mode):.2f}')
