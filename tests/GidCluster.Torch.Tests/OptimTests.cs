using GidCluster.Training.Optim;

namespace GidCluster.Torch.Tests;

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
            net = net.double(); x = x.double(); y = y.double()
            opt = torch.optim.AdamW(net.parameters(), lr=0.05, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(2, 5, 0.1))
            norms, lrs = [], []
            for step in range(5):
                opt.zero_grad(set_to_none=True)
                loss = F.mse_loss(net(x), y)
                loss.backward()
                norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05)))
                lrs.append(opt.param_groups[0]['lr'])
                opt.step(); sched.step()
            out['norms'] = torch.tensor(norms); out['lrs'] = torch.tensor(lrs, dtype=torch.float64).float()
            for k, v in net.state_dict().items(): out[f'final/{k}'] = v.float()
            for i, (k, p) in enumerate(net.named_parameters()): out[f'exp_avg_sq/{k}'] = opt.state[p]['exp_avg_sq'].float()
            dump(out, sys.argv[1])
            """, [path]);
        var py = PyTensors.Load(path);

        using var scope = torch.NewDisposeScope();
        // In float64 on both sides: this compares the optimizer, clipping and schedule, not the float32
        // convolution kernels of libtorch 2.10 and 1.13, which differ by ~1e-7 per gradient and AdamW's
        // normalisation amplifies that to ~1.6e-6 after 5 steps.
        using var net = new SmallNet();
        net.load_state_dict(Prefixed(py, "init/"));
        net.to(torch.float64);
        var (x, y) = (py["x"].to(torch.float64), py["y"].to(torch.float64));
        using var opt = torch.optim.AdamW(net.parameters(), lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1);
        var sched = WarmupCosine.Create(opt, 2, 5, 0.1);
        var norms = new List<float>();
        var lrs = new List<float>();
        for (var step = 0; step < 5; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            opt.zero_grad();
            var loss = F.mse_loss(net.call(x), y);
            loss.backward();
            norms.Add((float)torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05));
            lrs.Add((float)opt.ParamGroups.First().LearningRate);
            opt.step();
            sched.step();
        }
        Assert.Equal(py["lrs"].ToArray<float>(), lrs);
        var expectedNorms = py["norms"].ToArray<float>();
        for (var i = 0; i < 5; i++)
            Assert.True(Math.Abs(norms[i] - expectedNorms[i]) <= 1e-6 * expectedNorms[i], $"norm {i}: {norms[i]} vs {expectedNorms[i]}");
        Assert.True(norms.All(n => n > 0.05), $"the test must actually clip: norms {string.Join(", ", norms)}");
        foreach (var (name, tensor) in net.state_dict())
            PyTensors.AssertClose(tensor, py[$"final/{name}"], 1e-6, $"parameter {name} after 5 steps");
        var state = SmallNet.AdamState(opt);
        foreach (var ((name, _), s) in net.named_parameters().Zip(state))
            PyTensors.AssertClose(s.exp_avg_sq, py[$"exp_avg_sq/{name}"], 1e-6, $"exp_avg_sq of {name}");
    }

    [Fact]
    public void Warmup_cosine_rejects_impossible_schedules()
    {
        using var net = new SmallNet();
        using var opt = torch.optim.AdamW(net.parameters());
        Assert.Contains("warmup steps (5) < total steps (5)", Assert.Throws<ArgumentException>(() => WarmupCosine.Create(opt, 5, 5)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => WarmupCosine.Create(opt, 1, 5, 1.5));
    }

    [Fact]
    public void Ema_follows_the_formula()
    {
        using var scope = torch.NewDisposeScope();
        using var net = nn.Linear(2, 1);
        using var ema = new ExponentialMovingAverage(net, 0.9);
        var before = net.weight.ToArray<float>();
        using (torch.no_grad()) net.weight.fill_(1);
        ema.Update();
        var after = ema.Shadow[0].ToArray<float>();
        for (var i = 0; i < 2; i++) Assert.Equal(0.9f * before[i] + 0.1f, after[i], 1e-6f);
        using var copy = nn.Linear(2, 1);
        ema.CopyTo(copy);
        Assert.Equal(after, copy.weight.ToArray<float>());
        Assert.Throws<ArgumentException>(() => ema.CopyTo(new SmallNet()));
    }

    [Fact]
    public void Parameters_are_named_in_declaration_order_as_in_python()
    {
        using var net = new SmallNet();
        Assert.Equal(["conv1.weight", "conv1.bias", "norm.weight", "norm.bias", "conv2.weight", "conv2.bias", "head.weight", "head.bias"],
            net.named_parameters().Select(p => p.name));
    }

    internal static Dictionary<string, Tensor> Prefixed(Dictionary<string, Tensor> all, string prefix) =>
        all.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
}
