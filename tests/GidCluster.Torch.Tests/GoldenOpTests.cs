using System.Text.Json;
using GidCluster.Training.Tensors;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Every op family against Debian's python3-torch: Python draws the inputs (seeded), computes the
/// output and, for float inputs, the gradients of sum(out * g) for a random g; C# repeats the op on
/// the same inputs and must agree within 1e-5 relative (float32), forward and backward.
/// </summary>
public sealed class GoldenOpTests(GoldenOpTests.Reference reference) : IClassFixture<GoldenOpTests.Reference>
{
    /// <summary>Input spec: f:SHAPE randn (grad), p:SHAPE positive (grad), i:LO:HI:SHAPE int64, b:SHAPE bool.</summary>
    public sealed record Case(string Name, string Python, string[] Inputs, Func<Tensor[], Tensor> CSharp);

    public static readonly Case[] Cases =
    [
        // elementwise math and comparisons
        new("add", "x0 + x1", ["f:3,4", "f:3,4"], x => x[0] + x[1]),
        new("add_broadcast", "x0 + x1", ["f:3,4", "f:4"], x => x[0] + x[1]),
        new("sub_scalar", "2.5 - x0 * 3", ["f:5"], x => 2.5 - x[0] * 3),
        new("mul_div", "x0 * x1 / x2", ["f:3,4", "f:3,4", "p:3,4"], x => x[0] * x[1] / x[2]),
        new("pow", "x0.pow(x1)", ["p:6", "f:6"], x => x[0].pow(x[1])),
        new("pow_scalar", "x0 ** 3", ["f:6"], x => x[0].pow(3)),
        new("exp_log_sqrt", "x0.exp() + x1.log() + x1.sqrt() + x1.rsqrt()", ["f:7", "p:7"], x => x[0].exp() + x[1].log() + x[1].sqrt() + x[1].rsqrt()),
        new("trig", "x0.sin() * x0.cos() + x0.tanh() + x0.sigmoid() + x0.abs()", ["f:8"], x => x[0].sin() * x[0].cos() + x[0].tanh() + x[0].sigmoid() + x[0].abs()),
        new("silu", "F.silu(x0)", ["f:4,5"], x => F.silu(x[0])),
        new("gelu", "F.gelu(x0)", ["f:4,5"], x => F.gelu(x[0])),
        new("gelu_tanh", "F.gelu(x0, approximate='tanh')", ["f:4,5"], x => F.gelu(x[0], TorchSharp.Modules.GELU.Approximate.tanh)),
        new("relu", "F.relu(x0)", ["f:4,5"], x => F.relu(x[0])),
        new("maximum", "torch.maximum(x0, x1) + torch.minimum(x0, x1) * 2", ["f:9", "f:9"], x => x[0].maximum(x[1]) + x[0].minimum(x[1]) * 2),
        new("compare", "(x0 > x1).float() + (x0 <= 0.5).float() + (x0 == x0).float()", ["f:9", "f:9"],
            x => x[0].gt(x[1]).to(ScalarType.Float32) + x[0].le(0.5).to(ScalarType.Float32) + x[0].eq(x[0]).to(ScalarType.Float32)),
        new("where", "torch.where(x0 > 0, x0, x1 * 2)", ["f:3,5", "f:3,5"], x => torch.where(x[0].gt(0), x[0], x[1] * 2)),
        new("clamp", "x0.clamp(-0.5, 0.7) + x0.clamp(min=0.1)", ["f:12"], x => x[0].clamp(-0.5, 0.7) + x[0].clamp(min: 0.1)),
        new("lerp", "torch.lerp(x0, x1, 0.3)", ["f:6", "f:6"], x => x[0].lerp(x[1], 0.3)),
        // reductions
        new("sum_mean", "x0.sum() + x0.mean()", ["f:3,4,5"], x => x[0].sum() + x[0].mean()),
        new("sum_dims", "x0.sum((0, 2), keepdim=True)", ["f:3,4,5"], x => x[0].sum([0, 2], keepdim: true)),
        new("mean_dim", "x0.mean(1)", ["f:3,4,5"], x => x[0].mean([1])),
        new("var_std", "x0.var(1) + x0.std(1, unbiased=False)", ["f:3,8"], x => x[0].var([1]) + x[0].std([1], unbiased: false)),
        new("amax", "x0.amax(1) + x0.amin(0).sum()", ["f:4,6"], x => x[0].amax([1]) + x[0].amin([0]).sum()),
        new("max_dim", "x0.max(1).values * 2 + x0.max(1).indices.float()", ["f:4,6"], x =>
        {
            var (v, i) = x[0].max(1);
            return v * 2 + i.to(ScalarType.Float32);
        }),
        new("logsumexp", "x0.logsumexp(1)", ["f:4,6"], x => x[0].logsumexp(1)),
        new("norm", "x0.norm() + x0.norm(dim=1).sum()", ["f:4,6"], x => x[0].norm() + x[0].norm(1).sum()),
        new("cumsum", "x0.cumsum(1)", ["f:4,6"], x => x[0].cumsum(1)),
        // matmul family
        new("matmul", "x0 @ x1", ["f:2,3,4", "f:4,5"], x => Ops.MatMul(x[0], x[1])),
        new("bmm", "torch.bmm(x0, x1)", ["f:2,3,4", "f:2,4,5"], x => x[0].bmm(x[1])),
        new("baddbmm", "torch.baddbmm(x0, x1, x2, beta=0.5, alpha=0.25)", ["f:2,3,5", "f:2,3,4", "f:2,4,5"], x => Ops.BAddBmm(x[0], x[1], x[2], 0.5, 0.25)),
        new("einsum", "torch.einsum('bhdi,bhdj->bhij', x0, x1)", ["f:2,2,3,4", "f:2,2,3,5"], x => torch.einsum("bhdi,bhdj->bhij", x[0], x[1])),
        // nn functions
        new("linear", "F.linear(x0, x1, x2)", ["f:3,5", "f:4,5", "f:4"], x => F.linear(x[0], x[1], x[2])),
        new("conv2d", "F.conv2d(x0, x1, x2, stride=2, padding=1)", ["f:2,3,9,8", "f:4,3,3,3", "f:4"], x => F.conv2d(x[0], x[1], x[2], strides: [2, 2], padding: [1, 1])),
        new("conv2d_groups", "F.conv2d(x0, x1, None, padding=1, groups=2)", ["f:2,4,6,6", "f:6,2,3,3"], x => F.conv2d(x[0], x[1], null, padding: [1, 1], groups: 2)),
        new("conv_transpose2d", "F.conv_transpose2d(x0, x1, x2, stride=2, padding=1, output_padding=1)", ["f:2,4,5,6", "f:4,3,3,3", "f:3"],
            x => F.conv_transpose2d(x[0], x[1], x[2], strides: [2, 2], padding: [1, 1], output_padding: [1, 1])),
        new("group_norm", "F.group_norm(x0, 2, x1, x2)", ["f:2,4,5,6", "f:4", "f:4"], x => F.group_norm(x[0], 2, x[1], x[2])),
        new("layer_norm", "F.layer_norm(x0, (6,), x1, x2)", ["f:2,5,6", "f:6", "f:6"], x => F.layer_norm(x[0], [6], x[1], x[2])),
        new("softmax", "torch.softmax(x0, -1) * 3 + torch.log_softmax(x0, 1)", ["f:3,7"], x => x[0].softmax(-1) * 3 + x[0].log_softmax(1)),
        new("dropout_eval", "F.dropout(x0, 0.3, training=False)", ["f:3,7"], x => F.dropout(x[0], 0.3, training: false)),
        new("interp_nearest", "F.interpolate(x0, scale_factor=2, mode='nearest')", ["f:2,3,4,5"], x => F.interpolate(x[0], scale_factor: [2, 2], mode: torch.InterpolationMode.Nearest)),
        new("interp_bilinear", "F.interpolate(x0, size=(7, 9), mode='bilinear', align_corners=False)", ["f:2,3,4,5"],
            x => F.interpolate(x[0], size: [7, 9], mode: torch.InterpolationMode.Bilinear, align_corners: false)),
        new("interp_bilinear_ac", "F.interpolate(x0, size=(7, 9), mode='bilinear', align_corners=True)", ["f:2,3,4,5"],
            x => F.interpolate(x[0], size: [7, 9], mode: torch.InterpolationMode.Bilinear, align_corners: true)),
        new("avg_pool", "F.avg_pool2d(x0, 2)", ["f:2,3,6,8"], x => F.avg_pool2d(x[0], 2)),
        new("max_pool", "F.max_pool2d(x0, 3, 2, 1)", ["f:2,3,6,8"], x => F.max_pool2d(x[0], 3, 2, 1)),
        new("pad_constant", "F.pad(x0, (1, 2, 0, 3), value=0.5)", ["f:2,3,4,5"], x => F.pad(x[0], [1, 2, 0, 3], value: 0.5)),
        new("pad_reflect", "F.pad(x0, (2, 1, 1, 2), mode='reflect')", ["f:2,3,4,5"], x => F.pad(x[0], [2, 1, 1, 2], PaddingModes.Reflect)),
        new("pad_replicate", "F.pad(x0, (2, 1, 1, 2), mode='replicate')", ["f:2,3,4,5"], x => F.pad(x[0], [2, 1, 1, 2], PaddingModes.Replicate)),
        new("mse", "F.mse_loss(x0, x1)", ["f:3,4", "f:3,4"], x => F.mse_loss(x[0], x[1])),
        new("embedding", "F.embedding(x1, x0)", ["f:10,4", "i:0:10:3,5"], x => x[0][torch.TensorIndex.Tensor(x[1])]),
        // shape
        new("reshape_permute", "x0.reshape(4, 6).permute(1, 0).contiguous().view(2, 12)", ["f:2,3,4"], x => x[0].reshape(4, 6).permute(1, 0).contiguous().view(2, 12)),
        new("transpose_unsqueeze", "x0.transpose(0, 2).unsqueeze(1).squeeze(1).flatten(1)", ["f:2,3,4"], x => x[0].transpose(0, 2).unsqueeze(1).squeeze(1).flatten(1)),
        new("expand_repeat", "x0.expand(3, 4) + x1.repeat(1, 2)", ["f:1,4", "f:3,2"], x => x[0].expand(3, 4) + x[1].repeat(1, 2)),
        new("cat_stack", "torch.cat([x0, x1], 1).sum(1) + torch.stack([x0, x0], 0).sum(0).sum(1)", ["f:3,4", "f:3,2"],
            x => torch.cat([x[0], x[1]], 1).sum(1) + torch.stack([x[0], x[0]], 0).sum([0L]).sum(1)),
        new("split_chunk", "x0.split([1, 3], 1)[1].sum(1) + x0.chunk(2, 1)[0].sum(1) * 2 + x0.unbind(1)[3]", ["f:3,4"], x =>
            x[0].split([1L, 3L], 1)[1].sum(1) + x[0].chunk(2, 1)[0].sum(1) * 2 + x[0].unbind(1)[3]),
        new("slice_select_narrow", "x0[:, 1:5:2] * 2 + x0[:, 0, :].unsqueeze(1) + x0.narrow(1, 0, 2)", ["f:2,5,3"],
            x => x[0].slice(1, 1, 5, 2) * 2 + x[0].select(1, 0).unsqueeze(1) + x[0].narrow(1, 0, 2)),
        new("flip_roll", "x0.flip(1) + x0.roll(2, 0)", ["f:5,4"], x => x[0].flip(1) + x[0].roll([2], [0])),
        // indexing (splatting)
        new("gather", "x0.gather(1, x1)", ["f:3,5", "i:0:5:3,4"], x => x[0].gather(1, x[1])),
        new("index_select", "x0.index_select(0, x1)", ["f:5,3", "i:0:5:7"], x => x[0].index_select(0, x[1])),
        new("scatter_add", "x0.scatter_add(1, x2, x1)", ["f:3,5", "f:3,6", "i:0:5:3,6"], x => x[0].scatter_add(1, x[2], x[1])),
        new("index_add", "x0.index_add(0, x2, x1, alpha=0.5)", ["f:5,3", "f:7,3", "i:0:5:7"], x => x[0].index_add(0, x[2], x[1], 0.5)),
        new("mask_index", "x0[x1] * 2", ["f:4,3", "b:4,3"], x => x[0][torch.TensorIndex.Tensor(x[1])] * 2),
        new("masked_fill", "x0.masked_fill(x1, -1.0)", ["f:4,3", "b:4,3"], x => x[0].masked_fill(x[1], -1.0)),
        // FFTs along a dim
        new("fft", "torch.view_as_real(torch.fft.fft(torch.complex(x0, x1), dim=1))", ["f:3,8", "f:3,8"],
            x => torch.view_as_real(torch.fft.fft_(torch.complex(x[0], x[1]), dim: 1))),
        new("ifft", "torch.view_as_real(torch.fft.ifft(torch.complex(x0, x1), dim=0, norm='ortho'))", ["f:6,2", "f:6,2"],
            x => torch.view_as_real(torch.fft.ifft(torch.complex(x[0], x[1]), dim: 0, norm: FFTNormType.Ortho))),
        new("rfft", "torch.fft.rfft(x0, dim=1).abs()", ["f:3,10"], x => torch.fft.rfft(x[0], dim: 1).abs()),
        new("irfft", "torch.fft.irfft(torch.complex(x0, x1), n=8, dim=1)", ["f:3,5", "f:3,5"], x => torch.fft.irfft(torch.complex(x[0], x[1]), n: 8, dim: 1)),
    ];

    public static TheoryData<string> CaseNames() => [.. Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Op_matches_python_forward_and_backward(string name)
    {
        var c = Cases.Single(c => c.Name == name);
        using var scope = torch.NewDisposeScope();
        var ins = new Tensor[c.Inputs.Length];
        for (var i = 0; i < ins.Length; i++)
        {
            ins[i] = reference.Tensors[$"{name}/in{i}"].clone();
            if (c.Inputs[i][0] is 'f' or 'p')
                ins[i].requires_grad = true;
        }
        var output = c.CSharp(ins);
        PyTensors.AssertClose(output, reference.Tensors[$"{name}/out"], 1e-5, $"{name} forward");
        if (!reference.Tensors.TryGetValue($"{name}/g", out var g))
            return;
        output.backward([g]);
        for (var i = 0; i < ins.Length; i++)
        {
            if (!reference.Tensors.TryGetValue($"{name}/grad{i}", out var expected)) continue;
            var actual = ins[i].grad ?? throw new Xunit.Sdk.XunitException($"{name}: input {i} has no gradient");
            PyTensors.AssertClose(actual, expected, 1e-5, $"{name} gradient of input {i}");
        }
    }

    /// <summary>Runs Python once for all cases and loads its tensors.</summary>
    public sealed class Reference : IDisposable
    {
        private readonly TempDir _dir = Paths.NewTempDir("gid-torch-golden");

        public Reference()
        {
            Tensors = PyTensors.RunCases(_dir.Path, Cases.Select(c => new { name = c.Name, python = c.Python, inputs = c.Inputs }), Script, out _);
        }

        public Dictionary<string, Tensor> Tensors { get; }

        public void Dispose()
        {
            foreach (var t in Tensors.Values) t.Dispose();
            _dir.Dispose();
        }

        private const string Script = """

            import sys, torch.nn.functional as F
            cases = json.load(open(sys.argv[1]))
            out = {}
            for n, case in enumerate(cases):
                g = torch.Generator().manual_seed(1000 + n)
                xs = []
                for spec in case['inputs']:
                    kind, *rest = spec.split(':')
                    shape = [int(s) for s in rest[-1].split(',')]
                    if kind == 'f': x = torch.randn(shape, generator=g).requires_grad_()
                    elif kind == 'p': x = (torch.rand(shape, generator=g) + 0.5).requires_grad_()
                    elif kind == 'i': x = torch.randint(int(rest[0]), int(rest[1]), shape, generator=g)
                    elif kind == 'b': x = torch.rand(shape, generator=g) > 0.5
                    xs.append(x)
                env = {'torch': torch, 'F': F}
                env.update({f'x{i}': x for i, x in enumerate(xs)})
                try: y = eval(case['python'], env)
                except Exception as e: raise SystemExit(f"case {case['name']}: {e}")
                name = case['name']
                for i, x in enumerate(xs): out[f'{name}/in{i}'] = x
                out[f'{name}/out'] = y
                if y.requires_grad:
                    gy = torch.randn(y.shape, generator=g)
                    y.backward(gy)
                    out[f'{name}/g'] = gy
                    for i, x in enumerate(xs):
                        if x.grad is not None: out[f'{name}/grad{i}'] = x.grad
            dump(out, sys.argv[2])
            """;
    }
}
