namespace GidCluster.Torch.Tests;

/// <summary>A small conv net used by the optimizer, checkpoint, memory and data-parallel tests (same in Python: <see cref="PythonDefinition"/>).</summary>
public sealed class SmallNet : nn.Module<Tensor, Tensor>
{
    private readonly nn.Conv2d conv1;
    private readonly nn.GroupNorm norm;
    private readonly nn.Conv2d conv2;
    private readonly nn.Linear head;

    public SmallNet() : base(nameof(SmallNet))
    {
        conv1 = new nn.Conv2d(3, 8, 3, padding: 1);
        norm = new nn.GroupNorm(2, 8);
        conv2 = new nn.Conv2d(8, 8, 3, stride: 2, padding: 1);
        head = new nn.Linear(8, 2);
        RegisterComponents();
    }

    /// <summary>[B, 3, H, W] → [B, 2].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = F.silu(norm.forward(conv1.forward(x)));
        h = F.silu(conv2.forward(h)).mean([2, 3]);
        return head.forward(h).MoveToOuterDisposeScope();
    }

    public const string PythonDefinition = """

        import torch.nn as nn, torch.nn.functional as F, math
        class SmallNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
                self.norm = nn.GroupNorm(2, 8)
                self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
                self.head = nn.Linear(8, 2)
            def forward(self, x):
                h = F.silu(self.norm(self.conv1(x)))
                h = F.silu(self.conv2(h)).mean((2, 3))
                return self.head(h)
        def warmup_cosine(warmup, total, min_ratio=0.0):
            def f(s):
                if s < warmup: return s / warmup
                p = min(1.0, (s - warmup) / (total - warmup))
                return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))
            return f
        """;
}

public class OptimTests
{
    [Fact]
    public void AdamW_with_clipping_and_warmup_cosine_matches_python_over_5_steps()
    {
        using var dir = Paths.NewTempDir("gid-torch-adamw");
        var path = Path.Combine(dir.Path, "run");
        Programs.RunPython(PyTensors.DumpFunction + SmallNet.PythonDefinition + """

            import sys
            torch.manual_seed(3)
            net = SmallNet()
            out = {f'init/{k}': v.clone() for k, v in net.state_dict().items()}
            x = torch.randn(4, 3, 8, 8); y = torch.randn(4, 2)
            out['x'] = x; out['y'] = y
            opt = torch.optim.AdamW(net.parameters(), lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(2, 5, 0.1))
            norms = []
            for step in range(5):
                opt.zero_grad(set_to_none=True)
                loss = F.mse_loss(net(x), y)
                loss.backward()
                norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05)))
                opt.step(); sched.step()
            out['norms'] = torch.tensor(norms)
            for k, v in net.state_dict().items(): out[f'final/{k}'] = v
            for i, (k, p) in enumerate(net.named_parameters()): out[f'exp_avg_sq/{k}'] = opt.state[p]['exp_avg_sq']
            dump(out, sys.argv[1])
            """, [path]);
        var py = PyTensors.Load(path);

        using var scope = torch.NewDisposeScope();
        using var net = new SmallNet();
        net.load_state_dict(Prefixed(py, "init/"));
        using var opt = new optim.AdamW(net.parameters(), lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1);
        var sched = new optim.lr_scheduler.WarmupCosine(opt, 2, 5, 0.1);
        var norms = new List<float>();
        for (var step = 0; step < 5; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            opt.zero_grad();
            var loss = F.mse_loss(net.forward(py["x"]), py["y"]);
            loss.backward();
            norms.Add((float)nn.utils.clip_grad_norm_(net.parameters(), 0.05));
            opt.step();
            sched.step();
        }
        var expectedNorms = py["norms"].ToArray<float>();
        for (var i = 0; i < 5; i++)
            Assert.True(Math.Abs(norms[i] - expectedNorms[i]) <= 1e-6 * expectedNorms[i], $"norm {i}: {norms[i]} vs {expectedNorms[i]}");
        Assert.True(norms.All(n => n > 0.05), $"the test must actually clip: norms {string.Join(", ", norms)}");
        foreach (var (name, tensor) in net.state_dict())
            PyTensors.AssertClose(tensor, py[$"final/{name}"], 1e-6, $"parameter {name} after 5 steps");
        foreach (var (name, p) in net.named_parameters())
            PyTensors.AssertClose(opt.state[p].exp_avg_sq, py[$"exp_avg_sq/{name}"], 1e-6, $"exp_avg_sq of {name}");
    }

    [Fact]
    public void Ema_follows_the_formula()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new nn.Linear(2, 1);
        using var ema = new optim.ExponentialMovingAverage(net, 0.9);
        var before = net.weight.ToArray<float>();
        using (torch.no_grad()) net.weight.fill_(1);
        ema.update();
        var after = ema.shadow[0].ToArray<float>();
        for (var i = 0; i < 2; i++) Assert.Equal(0.9f * before[i] + 0.1f, after[i], 1e-6f);
        using var copy = new nn.Linear(2, 1);
        ema.copy_to(copy);
        Assert.Equal(after, copy.weight.ToArray<float>());
    }

    [Fact]
    public void Load_state_dict_names_missing_unexpected_and_mismatched_keys()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new SmallNet();
        var state = net.state_dict();
        state.Remove("conv1.bias");
        state["extra.weight"] = torch.zeros([1]);
        var e = Assert.Throws<nn.StateDictException>(() => net.load_state_dict(state));
        Assert.Equal(["conv1.bias"], e.MissingKeys);
        Assert.Equal(["extra.weight"], e.UnexpectedKeys);
        Assert.Contains("missing key(s): conv1.bias", e.Message);

        var wrong = net.state_dict();
        wrong["head.weight"] = torch.zeros([3, 8]);
        var e2 = Assert.Throws<nn.StateDictException>(() => net.load_state_dict(wrong));
        Assert.Contains("head.weight: checkpoint has shape [3, 8], the module has [2, 8]", e2.Message);
        // non-strict accepts missing/unexpected keys, and the module still works
        net.load_state_dict(state, strict: false);
        Assert.Equal([2L, 2], net.forward(torch.ones([2, 3, 4, 4])).shape);
    }

    [Fact]
    public void Module_bookkeeping_train_eval_to_and_names()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new SmallNet();
        Assert.Equal(["conv1.weight", "conv1.bias", "norm.weight", "norm.bias", "conv2.weight", "conv2.bias", "head.weight", "head.bias"],
            net.named_parameters().Select(p => p.name));
        Assert.True(net.named_modules().All(m => m.module.training));
        net.eval();
        Assert.True(net.named_modules().All(m => !m.module.training));
        var p0 = net.parameters().First();
        net.to(torch.float64);
        Assert.Same(p0, net.parameters().First());
        Assert.Equal(ScalarType.Float64, p0.dtype);
        Assert.True(p0.requires_grad);
        net.to(torch.CPU, torch.float32);
        Assert.Equal(ScalarType.Float32, p0.dtype);
    }

    internal static Dictionary<string, Tensor> Prefixed(Dictionary<string, Tensor> all, string prefix) =>
        all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
}
