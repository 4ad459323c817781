using GidCluster.Training.Checkpoints;
using GidCluster.Training.Models;

namespace GidCluster.Torch.Tests;

/// <summary>
/// A stage-1 U-Net saved through the training checkpoint (TorchSharp.PyBridge) loads with <c>torch.load</c>, and a
/// Python script that rebuilds the network from the saved config alone (functional torch, attention through
/// <c>F.multi_head_attention_forward</c>) computes the same ε within 1e-5.
/// </summary>
public sealed class ModelCheckpointTests
{
    [Fact]
    public void Stage1_checkpoint_runs_in_python_torch_with_the_same_output()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = Paths.NewTempDir("gid-model-checkpoint");
        var config = ModelConfig.Load("tiny");
        var configPath = config.SaveTo(dir.Path);
        torch.manual_seed(7);
        using var unet = new UNet(config.Unet);
        ModelGoldenTests.Randomise(unet, 8, 0.1);
        using var opt = optim.Adam(unet.parameters(), 1e-3);
        var checkpoint = Path.Combine(dir.Path, "stage1.pt");
        TrainingCheckpoint.Save(checkpoint, unet, opt, new TrainingPosition(0, 0, 0));

        var noisy = torch.randn(3, 4, 2, 4);
        var image = torch.rand(3, 3, 16, 32);
        var t = torch.tensor(new long[] { 3, 400, 999 });
        var k = torch.tensor(new long[] { 0, 7, 15 });
        var keep = torch.tensor(new[] { true, false, true });
        Tensor eps;
        using (torch.no_grad())
            eps = unet.forward(noisy, t, k, image, keep);
        var inputs = Path.Combine(dir.Path, "inputs");
        PyTensors.Dump(new() { ["noisy"] = noisy, ["image"] = image, ["t"] = t.to(ScalarType.Float32), ["k"] = k.to(ScalarType.Float32), ["keep"] = keep.to(ScalarType.Float32) }, inputs);
        var output = Path.Combine(dir.Path, "eps");
        Programs.RunPython(PyTensors.DumpFunction + Script, [configPath, checkpoint, inputs, output], TimeSpan.FromMinutes(2));
        PyTensors.AssertClose(eps, PyTensors.Load(output)["eps"], 1e-5, "stage-1 ε, ours vs python3-torch from the checkpoint");
    }

    private const string Script = """

        import sys, math, torch.nn.functional as F
        cfg = json.load(open(sys.argv[1]))['unet']
        sd = torch.load(sys.argv[2])['model']
        x = load(sys.argv[3])
        G, heads = cfg['norm_groups'], cfg['attention_heads']
        def gn(h, pre): return F.group_norm(h, G, sd[pre + '.weight'], sd[pre + '.bias'])
        def conv(h, pre, **kw): return F.conv2d(h, sd[pre + '.weight'], sd[pre + '.bias'], **kw)
        def lin(h, pre): return F.linear(h, sd[pre + '.weight'], sd[pre + '.bias'])
        def res(h, emb, pre):
            r = conv(F.silu(gn(h, pre + '.norm1')), pre + '.conv1', padding=1)
            r = r + lin(F.silu(emb), pre + '.time_emb_proj')[:, :, None, None]
            r = conv(F.silu(gn(r, pre + '.norm2')), pre + '.conv2', padding=1)
            return (conv(h, pre + '.skip') if pre + '.skip.weight' in sd else h) + r
        def attn(h, pre):
            B, C, H, W = h.shape
            tok = gn(h, pre + '.norm').flatten(2).permute(2, 0, 1)                       # [H·W, B, C]
            a = F.multi_head_attention_forward(tok, tok, tok, C, heads, sd[pre + '.attn.to_qkv.weight'], sd[pre + '.attn.to_qkv.bias'],
                None, None, False, 0.0, sd[pre + '.attn.proj_out.weight'], sd[pre + '.attn.proj_out.bias'], training=False, need_weights=False)[0]
            return h + a.permute(1, 2, 0).reshape(B, C, H, W)
        def layer(h, emb, pre, level):
            h = res(h, emb, pre + '.res')
            return attn(h, pre + '.attn') if level in cfg['attention_levels'] else h
        with torch.no_grad():
            c = F.silu(conv(x['image'], 'cond_encoder.conv_in', padding=1))
            for i in range(int(math.log2(cfg['down_factor']))):
                c = F.silu(conv(c, f'cond_encoder.down.{i}', stride=2, padding=1))
            c = conv(c, 'cond_encoder.conv_out', padding=1)
            c = torch.where(x['keep'].bool()[:, None, None, None], c, sd['null_cond'][None, :, None, None])
            half = cfg['channels'] // 2
            args = x['t'][:, None] * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)[None]
            emb = lin(F.silu(lin(torch.cat([torch.cos(args), torch.sin(args)], 1), 'time_embed.linear_1')), 'time_embed.linear_2')
            emb = emb + sd['freq_embed.embedding.weight'][x['k'].long()]
            h = conv(torch.cat([x['noisy'], c], 1), 'conv_in', padding=1)
            skips, n, levels = [h], 0, len(cfg['channel_mult'])
            for level in range(levels):
                for _ in range(cfg['num_res_blocks']):
                    h = layer(h, emb, f'down.{n}', level); skips.append(h); n += 1
                if level < levels - 1:
                    h = conv(h, f'down.{n}.conv', stride=2, padding=1); skips.append(h); n += 1
            h = res(attn(res(h, emb, 'mid.block_1'), 'mid.attn'), emb, 'mid.block_2')
            n = 0
            for level in reversed(range(levels)):
                for _ in range(cfg['num_res_blocks'] + 1):
                    h = layer(torch.cat([h, skips.pop()], 1), emb, f'up.{n}', level); n += 1
                if level > 0:
                    h = conv(F.interpolate(h, scale_factor=2, mode='nearest'), f'up.{n}.conv', padding=1); n += 1
            eps = conv(F.silu(gn(h, 'norm_out')), 'conv_out', padding=1)
        dump({'eps': eps}, sys.argv[4])
        """;
}
