using System.Text.Json;
using GidCluster.Training.Tensors;
using TorchSharp.Modules;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Modules against torch.nn: Python builds each module (seeded), C# builds the same one, checks that
/// parameter names and shapes agree, loads Python's weights through load_state_dict, and compares
/// the output and the input and parameter gradients within 1e-5.
/// </summary>
public sealed class GoldenModuleTests(GoldenModuleTests.Reference reference) : IClassFixture<GoldenModuleTests.Reference>
{
    public sealed record Case(string Name, string Python, string Input, Func<nn.Module> Build, Func<nn.Module, Tensor, Tensor> Forward);

    private static Tensor Call(nn.Module m, Tensor x) => ((nn.Module<Tensor, Tensor>)m).call(x);

    private static Tensor Attend(nn.Module m, Tensor x) => ((MultiheadAttention)m).call(x, x, x, null, false, null).Item1;

    public static readonly Case[] Cases =
    [
        new("linear", "nn.Linear(5, 3)", "f:4,5", () => nn.Linear(5, 3), Call),
        new("linear_nobias", "nn.Linear(5, 3, bias=False)", "f:2,4,5", () => nn.Linear(5, 3, hasBias: false), Call),
        new("conv2d", "nn.Conv2d(3, 4, 3, stride=2, padding=1)", "f:2,3,7,6", () => Layers.Conv2d(3, 4, 3, stride: 2, padding: 1), Call),
        new("conv_transpose2d", "nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)", "f:2,4,3,5", () => nn.ConvTranspose2d(4, 2, 4, stride: 2, padding: 1), Call),
        new("group_norm", "nn.GroupNorm(2, 4)", "f:2,4,3,3", () => Layers.GroupNorm(2, 4), Call),
        new("layer_norm", "nn.LayerNorm(6)", "f:3,6", () => nn.LayerNorm(6), Call),
        new("dropout_eval", "nn.Dropout(0.4).eval()", "f:3,6", () => { var d = nn.Dropout(0.4); d.eval(); return d; }, Call),
        new("embedding", "nn.Embedding(10, 4)", "i:0:10:2,3", () => nn.Embedding(10, 4), Call),
        new("mha", "nn.MultiheadAttention(8, 2)", "f:5,3,8", () => nn.MultiheadAttention(8, 2), Attend),
        // TorchSharp's MultiheadAttention has no batch_first: batch-first callers transpose around it.
        new("mha_batch_first", "nn.MultiheadAttention(8, 4, batch_first=True)", "f:3,5,8", () => nn.MultiheadAttention(8, 4),
            (m, x) => Attend(m, x.transpose(0, 1)).transpose(0, 1)),
        new("sequential", "nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.SiLU(), nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 1))", "f:2,2,4,4",
            () => nn.Sequential(Layers.Conv2d(2, 4, 3, padding: 1), Layers.GroupNorm(2, 4), nn.SiLU(), nn.Upsample(scale_factor: [2, 2]), Layers.Conv2d(4, 1, 1)), Call),
    ];

    public static TheoryData<string> CaseNames() => [.. Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Module_matches_torch_nn(string name)
    {
        var c = Cases.Single(c => c.Name == name);
        using var scope = torch.NewDisposeScope();
        using var module = c.Build();
        var prefix = name + "/w/";
        var weights = reference.Tensors.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        var ours = module.named_parameters().Select(p => $"{p.name}:{string.Join(",", p.parameter.shape)}").ToList();
        var theirs = reference.ParameterNames[name];
        Assert.Equal(theirs, ours);
        module.load_state_dict(weights);

        var x = reference.Tensors[$"{name}/in"].clone();
        var isFloat = c.Input[0] == 'f';
        if (isFloat) x.requires_grad = true;
        var y = c.Forward(module, x);
        PyTensors.AssertClose(y, reference.Tensors[$"{name}/out"], 1e-5, $"{name} forward");
        y.backward([reference.Tensors[$"{name}/g"]]);
        if (isFloat)
            PyTensors.AssertClose(x.grad!, reference.Tensors[$"{name}/gin"], 1e-5, $"{name} input gradient");
        foreach (var (pname, p) in module.named_parameters())
            PyTensors.AssertClose(p.grad!, reference.Tensors[$"{name}/gw/{pname}"], 1e-5, $"{name} gradient of {pname}");
    }

    public sealed class Reference : IDisposable
    {
        private readonly TempDir _dir = Paths.NewTempDir("gid-torch-modules");

        public Reference()
        {
            Tensors = PyTensors.RunCases(_dir.Path, Cases.Select(c => new { name = c.Name, python = c.Python, input = c.Input }), Script, out var names);
            ParameterNames = JsonSerializer.Deserialize<Dictionary<string, List<string>>>(names)!;
        }

        public Dictionary<string, Tensor> Tensors { get; }

        public Dictionary<string, List<string>> ParameterNames { get; }

        public void Dispose()
        {
            foreach (var t in Tensors.Values) t.Dispose();
            _dir.Dispose();
        }

        private const string Script = """

            import sys, torch.nn as nn
            cases = json.load(open(sys.argv[1]))
            out, names = {}, {}
            for n, case in enumerate(cases):
                torch.manual_seed(n)
                m = eval(case['python'], {'nn': nn, 'torch': torch})
                kind, *rest = case['input'].split(':')
                shape = [int(s) for s in rest[-1].split(',')]
                x = torch.randn(shape).requires_grad_() if kind == 'f' else torch.randint(int(rest[0]), int(rest[1]), shape)
                y = m(x, x, x, need_weights=False)[0] if isinstance(m, nn.MultiheadAttention) else m(x)
                g = torch.randn(y.shape)
                y.backward(g)
                name = case['name']
                names[name] = [f"{k}:{','.join(map(str, p.shape))}" for k, p in m.named_parameters()]
                for k, v in m.state_dict().items(): out[f'{name}/w/{k}'] = v
                for k, p in m.named_parameters(): out[f'{name}/gw/{k}'] = p.grad
                out[f'{name}/in'] = x; out[f'{name}/out'] = y; out[f'{name}/g'] = g
                if x.grad is not None: out[f'{name}/gin'] = x.grad
            dump(out, sys.argv[2])
            print(json.dumps(names))
            """;
    }
}
