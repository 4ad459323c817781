using GidCluster.Training.Models;

namespace GidCluster.Torch.Tests;

/// <summary>
/// The model blocks against independent Python references: C# builds a block with random weights (zero-initialised
/// projections randomised too), dumps weights, input and upstream gradient; Python recomputes the forward pass with
/// torch.nn.functional / nn.MultiheadAttention (or, for softmax splatting, a per-pixel loop) and autograd; output,
/// input gradients and weight gradients must agree within 1e-5 relative.
/// </summary>
public sealed class ModelGoldenTests
{
    private const double Tolerance = 1e-5;

    /// <summary>Randomises every parameter (seeded) so zero-initialised outputs do not make the comparison vacuous.</summary>
    internal static void Randomise(nn.Module module, long seed, double scale = 0.3)
    {
        using var noGrad = torch.no_grad();
        var g = new torch.Generator((ulong)seed);
        foreach (var p in module.parameters())
            p.copy_(torch.randn(p.shape, generator: g) * scale);
    }

    /// <summary>
    /// Runs <paramref name="body"/> with <c>t</c> = the dumped tensors (params as <c>p.NAME</c>), expecting it to set
    /// <c>y</c>, then <paramref name="after"/>, and to leave the leaves' gradients after <c>y.backward(t['g'])</c>; returns
    /// Python's tensors. With <paramref name="autocast"/> the body runs under <see cref="AutocastTests.TorchAutocast"/>.
    /// </summary>
    internal static Dictionary<string, Tensor> Reference(nn.Module module, Dictionary<string, Tensor> inputs, string body, string after = "", bool autocast = false)
    {
        using var dir = Paths.NewTempDir("gid-model-golden");
        var all = new Dictionary<string, Tensor>(inputs);
        foreach (var (name, p) in module.named_parameters())
            all["p." + name] = p.detach();
        PyTensors.Dump(all, Path.Combine(dir.Path, "in"));
        var script = """

            import sys, math, torch.nn as nn, torch.nn.functional as F
            t = load(sys.argv[1])
            for k in t: t[k].requires_grad_(k != 'g')
            p = {k[2:]: v for k, v in t.items() if k.startswith('p.')}

            """ + (autocast ? AutocastTests.TorchAutocast(body) : body) + "\n" + after + """

            y.backward(t['g'])
            out = {'y': y.float()}
            for k, v in t.items():
                if v.grad is not None: out['grad.' + k] = v.grad
            dump(out, sys.argv[2])
            """;
        Programs.RunPython(PyTensors.DumpFunction + script, [Path.Combine(dir.Path, "in"), Path.Combine(dir.Path, "out")], TimeSpan.FromMinutes(2));
        return PyTensors.Load(Path.Combine(dir.Path, "out"));
    }

    /// <summary>Compares output and the gradients of the inputs and of every parameter.</summary>
    private static void Compare(string what, nn.Module module, Dictionary<string, Tensor> inputs, Tensor y, Dictionary<string, Tensor> expected)
    {
        PyTensors.AssertClose(y, expected["y"], Tolerance, $"{what} forward");
        y.backward([inputs["g"]]);
        foreach (var (name, x) in inputs)
            if (name != "g" && x.requires_grad)
                PyTensors.AssertClose(x.grad!, expected["grad." + name], Tolerance, $"{what} gradient of {name}");
        foreach (var (name, p) in module.named_parameters())
            PyTensors.AssertClose(p.grad!, expected["grad.p." + name], Tolerance, $"{what} gradient of {name}");
    }

    private static Tensor Leaf(long seed, params long[] shape)
    {
        var g = new torch.Generator((ulong)seed);
        return torch.randn(shape, generator: g).requires_grad_();
    }

    [Fact]
    public void ResBlock_matches_functional_torch()
    {
        using var scope = torch.NewDisposeScope();
        var block = new ResBlock(6, 8, normGroups: 2, embedDim: 5);
        Randomise(block, 1);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Leaf(2, 2, 6, 5, 4), ["emb"] = Leaf(3, 2, 5) };
        var y = block.call(inputs["x"], inputs["emb"]);
        inputs["g"] = torch.randn(y.shape, generator: new torch.Generator(4));
        var expected = Reference(block, inputs, ResBlockReference);
        Compare("ResBlock", block, inputs, y, expected);
    }

    /// <summary>ResBlock(6 → 8, 2 groups, embedding 5) in functional torch.</summary>
    internal const string ResBlockReference = """
        x, emb = t['x'], t['emb']
        h = F.conv2d(F.silu(F.group_norm(x, 2, p['norm1.weight'], p['norm1.bias'])), p['conv1.weight'], p['conv1.bias'], padding=1)
        h = h + F.linear(F.silu(emb), p['time_emb_proj.weight'], p['time_emb_proj.bias'])[:, :, None, None]
        h = F.conv2d(F.silu(F.group_norm(h, 2, p['norm2.weight'], p['norm2.bias'])), p['conv2.weight'], p['conv2.bias'], padding=1)
        y = F.conv2d(x, p['skip.weight'], p['skip.bias']) + h
        """;

    [Fact]
    public void SpatialAttention_matches_nn_MultiheadAttention()
    {
        using var scope = torch.NewDisposeScope();
        var block = new SpatialAttention(8, heads: 2, normGroups: 4);
        Randomise(block, 5);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Leaf(6, 2, 8, 3, 4) };
        var y = block.call(inputs["x"]);
        inputs["g"] = torch.randn(y.shape, generator: new torch.Generator(7));
        var expected = Reference(block, inputs, SpatialAttentionReference, SpatialAttentionGradients);
        Compare("SpatialAttention", block, inputs, y, expected);
    }

    /// <summary>SpatialAttention(8 channels, 2 heads, 4 groups) through nn.MultiheadAttention.</summary>
    internal const string SpatialAttentionReference = """
        x = t['x']
        mha = nn.MultiheadAttention(8, 2, batch_first=True)
        mha.in_proj_weight = nn.Parameter(p['attn.to_qkv.weight']); mha.in_proj_bias = nn.Parameter(p['attn.to_qkv.bias'])
        mha.out_proj.weight = nn.Parameter(p['attn.proj_out.weight']); mha.out_proj.bias = nn.Parameter(p['attn.proj_out.bias'])
        B, C, H, W = x.shape
        tokens = F.group_norm(x, 4, p['norm.weight'], p['norm.bias']).flatten(2).transpose(1, 2)
        a = mha(tokens, tokens, tokens, need_weights=False)[0]
        y = x + a.transpose(1, 2).reshape(B, C, H, W)
        """;

    /// <summary>nn.MultiheadAttention holds its own parameters: their gradients are copied to the dumped ones.</summary>
    internal const string SpatialAttentionGradients = """
        y.backward(t['g'], retain_graph=True)
        for k, q in [('attn.to_qkv.weight', mha.in_proj_weight), ('attn.to_qkv.bias', mha.in_proj_bias),
                     ('attn.proj_out.weight', mha.out_proj.weight), ('attn.proj_out.bias', mha.out_proj.bias)]:
            p[k].grad = q.grad.clone()
        x.grad = None; p['norm.weight'].grad = None; p['norm.bias'].grad = None
        """;

    [Fact]
    public void FrequencyAttention_matches_nn_MultiheadAttention_across_slices()
    {
        using var scope = torch.NewDisposeScope();
        var block = new FrequencyAttention(8, heads: 2, maxFrequencies: 5);
        Randomise(block, 8);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Leaf(9, 2 * 3, 8, 2, 3) };
        var y = block.call(inputs["x"], 3);
        inputs["g"] = torch.randn(y.shape, generator: new torch.Generator(10));
        var expected = Reference(block, inputs, """
            x = t['x']; K = 3
            mha = nn.MultiheadAttention(8, 2, batch_first=True)
            mha.in_proj_weight = nn.Parameter(p['attn.to_qkv.weight']); mha.in_proj_bias = nn.Parameter(p['attn.to_qkv.bias'])
            mha.out_proj.weight = nn.Parameter(p['attn.proj_out.weight']); mha.out_proj.bias = nn.Parameter(p['attn.proj_out.bias'])
            BK, C, H, W = x.shape; B = BK // K
            y = torch.empty_like(x)
            outs = []
            for b in range(B):
                for i in range(H):
                    for j in range(W):
                        seq = x[b * K:(b + 1) * K, :, i, j]                      # the K slices at one position: [K, C]
                        s = F.layer_norm(seq, (C,), p['norm.weight'], p['norm.bias']) + p['pos_emb.weight'][:K]
                        outs.append(seq + mha(s[None], s[None], s[None], need_weights=False)[0][0])
            y = torch.stack(outs).reshape(B, H, W, K, C).permute(0, 3, 4, 1, 2).reshape(BK, C, H, W)
            y.backward(t['g'], retain_graph=True)
            for k, q in [('attn.to_qkv.weight', mha.in_proj_weight), ('attn.to_qkv.bias', mha.in_proj_bias),
                         ('attn.proj_out.weight', mha.out_proj.weight), ('attn.proj_out.bias', mha.out_proj.bias)]:
                p[k].grad = q.grad.clone()
            for k in ['x', 'p.norm.weight', 'p.norm.bias', 'p.pos_emb.weight']: t[k].grad = None
            """);
        Compare("FrequencyAttention", block, inputs, y, expected);
    }

    [Fact]
    public void TimestepEmbedding_matches_ldm_formula()
    {
        using var scope = torch.NewDisposeScope();
        var block = new TimestepEmbedding(8, 12);
        Randomise(block, 11);
        var timesteps = torch.tensor(new long[] { 0, 1, 17, 999 });
        var inputs = new Dictionary<string, Tensor> { ["ts"] = timesteps.to(ScalarType.Float32) };
        var y = block.call(timesteps);
        inputs["g"] = torch.randn(y.shape, generator: new torch.Generator(12));
        var expected = Reference(block, inputs, """
            ts = t['ts'].detach()
            half = 4
            freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
            args = ts[:, None] * freqs[None]
            emb = torch.cat([torch.cos(args), torch.sin(args)], 1)
            y = F.linear(F.silu(F.linear(emb, p['linear_1.weight'], p['linear_1.bias'])), p['linear_2.weight'], p['linear_2.bias'])
            """);
        inputs.Remove("ts");
        Compare("TimestepEmbedding", block, inputs, y, expected);
    }

    [Fact]
    public void SoftmaxSplatting_matches_per_pixel_python_loop()
    {
        using var scope = torch.NewDisposeScope();
        // Flows up to ±3 px on a 4×5 map: some targets leave the frame, some pixels receive nothing.
        var inputs = new Dictionary<string, Tensor>
        {
            ["f"] = Leaf(13, 2, 3, 4, 5),
            ["flow"] = (torch.randn([2, 2, 4, 5], generator: new torch.Generator(14)) * 1.5).requires_grad_(),
            ["w"] = Leaf(15, 2, 1, 4, 5),
        };
        var y = SoftmaxSplatting.Splat(inputs["f"], inputs["flow"], inputs["w"]);
        inputs["g"] = torch.randn(y.shape, generator: new torch.Generator(16));
        using var none = new NoParameters();
        var expected = Reference(none, inputs, """
            f, flow, w = t['f'], t['flow'], t['w']
            B, C, H, W = f.shape
            e = torch.exp(w - w.max().detach())
            num = [[torch.zeros(C) for _ in range(H * W)] for _ in range(B)]
            den = [[torch.zeros(()) for _ in range(H * W)] for _ in range(B)]
            for b in range(B):
                for i in range(H):
                    for j in range(W):
                        tx = j + flow[b, 0, i, j]; ty = i + flow[b, 1, i, j]
                        x0 = math.floor(tx.item()); y0 = math.floor(ty.item())
                        for cx in (x0, x0 + 1):
                            for cy in (y0, y0 + 1):
                                if 0 <= cx < W and 0 <= cy < H:
                                    k = (1 - (tx - cx).abs()) * (1 - (ty - cy).abs()) * e[b, 0, i, j]
                                    num[b][cy * W + cx] = num[b][cy * W + cx] + k * f[b, :, i, j]
                                    den[b][cy * W + cx] = den[b][cy * W + cx] + k
            y = torch.stack([torch.stack([n / d if d.item() > 0 else n for n, d in zip(num[b], den[b])]) for b in range(B)])
            y = y.reshape(B, H, W, C).permute(0, 3, 1, 2)
            """);
        Compare("SoftmaxSplatting", none, inputs, y, expected);
        // The case is not degenerate: some output pixels are empty and some are filled.
        var empty = (y.abs().sum(1) == 0).sum().item<long>();
        Assert.InRange(empty, 1, 2 * 4 * 5 - 1);
    }

    private sealed class NoParameters() : nn.Module("none");
}
