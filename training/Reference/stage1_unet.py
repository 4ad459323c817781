"""The stage-1 U-Net rebuilt in plain python3-torch from its config and a state dict alone.

An independent replica for checking our TorchSharp model (tests) and timing the identical network
(`gid bench train`): it shares no code with training/Models, only the parameter names and the config
keys. Functional torch throughout; attention goes through F.multi_head_attention_forward.
"""
import math

import torch
import torch.nn.functional as F


def eps(sd, cfg, noisy, image, t, k, keep):
    """ε prediction: noisy [B,Z,h,w], image [B,3,H,W], t [B] float, k [B] int64, keep [B] bool."""
    groups, heads = cfg['norm_groups'], cfg['attention_heads']

    def gn(h, pre):
        return F.group_norm(h, groups, sd[pre + '.weight'], sd[pre + '.bias'])

    def conv(h, pre, **kw):
        return F.conv2d(h, sd[pre + '.weight'], sd[pre + '.bias'], **kw)

    def lin(h, pre):
        return F.linear(h, sd[pre + '.weight'], sd[pre + '.bias'])

    def res(h, emb, pre, cond=None):
        r = conv(F.silu(gn(h, pre + '.norm1')), pre + '.conv1', padding=1)
        r = r + lin(F.silu(emb), pre + '.time_emb_proj')[:, :, None, None]
        r = gn(r, pre + '.norm2')
        if pre + '.cond_film.conv.weight' in sd:  # unet.cond_film: scale and shift from the picture's features
            z = F.adaptive_avg_pool2d(cond, r.shape[-2:]) + lin(F.silu(emb), pre + '.cond_film.emb_proj')[:, :, None, None]
            gamma, beta = conv(F.silu(z), pre + '.cond_film.conv', padding=1).chunk(2, 1)
            r = r * (1 + gamma) + beta
        r = conv(F.silu(r), pre + '.conv2', padding=1)
        return (conv(h, pre + '.skip') if pre + '.skip.weight' in sd else h) + r

    def attn(h, pre):
        b, c, hh, ww = h.shape
        tok = gn(h, pre + '.norm').flatten(2).permute(2, 0, 1)  # [h·w, B, C]
        a = F.multi_head_attention_forward(
            tok, tok, tok, c, heads, sd[pre + '.attn.to_qkv.weight'], sd[pre + '.attn.to_qkv.bias'],
            None, None, False, 0.0, sd[pre + '.attn.proj_out.weight'], sd[pre + '.attn.proj_out.bias'],
            training=False, need_weights=False)[0]
        return h + a.permute(1, 2, 0).reshape(b, c, hh, ww)

    def layer(h, emb, pre, level):
        h = res(h, emb, pre + '.res', c)
        return attn(h, pre + '.attn') if level in cfg['attention_levels'] else h

    c = F.silu(conv(image, 'cond_encoder.conv_in', padding=1))
    for i in range(int(math.log2(cfg['down_factor']))):
        c = F.silu(conv(c, f'cond_encoder.down.{i}', stride=2, padding=1))
    c = conv(c, 'cond_encoder.conv_out', padding=1)
    c = torch.where(keep[:, None, None, None], c, sd['null_cond'][None, :, None, None])
    half = cfg['channels'] // 2
    args = t[:, None] * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)[None]
    emb = lin(F.silu(lin(torch.cat([torch.cos(args), torch.sin(args)], 1), 'time_embed.linear_1')), 'time_embed.linear_2')
    emb = emb + sd['freq_embed.embedding.weight'][k]
    h = conv(torch.cat([noisy, c], 1), 'conv_in', padding=1)
    skips, n, levels = [h], 0, len(cfg['channel_mult'])
    for level in range(levels):
        for _ in range(cfg['num_res_blocks']):
            h = layer(h, emb, f'down.{n}', level)
            skips.append(h)
            n += 1
        if level < levels - 1:
            h = conv(h, f'down.{n}.conv', stride=2, padding=1)
            skips.append(h)
            n += 1
    h = res(attn(res(h, emb, 'mid.block_1'), 'mid.attn'), emb, 'mid.block_2')
    n = 0
    for level in reversed(range(levels)):
        for _ in range(cfg['num_res_blocks'] + 1):
            h = layer(torch.cat([h, skips.pop()], 1), emb, f'up.{n}', level)
            n += 1
        if level > 0:
            h = conv(F.interpolate(h, scale_factor=2, mode='nearest'), f'up.{n}.conv', padding=1)
            n += 1
    return conv(F.silu(gn(h, 'norm_out')), 'conv_out', padding=1)
