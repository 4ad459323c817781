using GidCluster.Training.Checkpoints;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Training checkpoints in torch.save's format both ways, with optimizer state, step, data position
/// and RNG: training continued on the other side must end where uninterrupted training ends (1e-6).
/// </summary>
public class CheckpointTests
{
    private const string Common = """

        import sys
        def make(seed):
            torch.manual_seed(seed)
            net = SmallNet()
            opt = torch.optim.AdamW(net.parameters(), lr=0.02, betas=(0.9, 0.99), weight_decay=0.05)
            return net, opt
        def steps(net, opt, x, y, n):
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                F.mse_loss(net(x), y).backward()
                opt.step()
        """;

    private static void Steps(SmallNet net, optim.Optimizer opt, Tensor x, Tensor y, int n)
    {
        for (var i = 0; i < n; i++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.call(x), y).backward();
            opt.step();
        }
    }

    private static optim.Optimizer Adam(SmallNet net) => torch.optim.AdamW(net.parameters(), lr: 0.02, beta1: 0.9, beta2: 0.99, weight_decay: 0.05);

    [Fact]
    public void Python_checkpoint_with_optimizer_state_continues_in_csharp()
    {
        using var dir = Paths.NewTempDir("gid-torch-ckpt-py");
        var ckpt = Path.Combine(dir.Path, "py.pt");
        var final = Path.Combine(dir.Path, "final");
        Programs.RunPython(PyTensors.DumpFunction + SmallNet.PythonDefinition + Common + """

            net, opt = make(5)
            x = torch.randn(4, 3, 8, 8); y = torch.randn(4, 2)
            steps(net, opt, x, y, 2)
            torch.manual_seed(77)
            torch.save({'model': net.state_dict(), 'optimizer': opt.state_dict(), 'step': 2, 'epoch': 1, 'batch_in_epoch': 5,
                        'rng_state': torch.get_rng_state()}, sys.argv[1])
            draw = torch.randn(6)
            steps(net, opt, x, y, 3)
            out = {k: v for k, v in net.state_dict().items()}
            out['x'] = x; out['y'] = y; out['draw'] = draw
            dump(out, sys.argv[2])
            """, [ckpt, final]);

        using var scope = torch.NewDisposeScope();
        var expected = PyTensors.Load(final);
        torch.manual_seed(0);
        using var net = new SmallNet();
        using var opt = Adam(net);
        var position = TrainingCheckpoint.Load(ckpt, net, opt);
        Assert.Equal(new TrainingPosition(2, 1, 5), position);
        Assert.Equal(expected["draw"].ToArray<float>(), torch.randn(6).ToArray<float>()); // the RNG continues Python's stream
        Assert.Equal(2, SmallNet.AdamState(opt)[0].step);
        Assert.True(net.parameters().All(p => p.requires_grad));
        Steps(net, opt, expected["x"], expected["y"], 3);
        foreach (var (name, t) in net.state_dict())
            PyTensors.AssertClose(t, expected[name], 1e-6, name);
    }

    [Fact]
    public void Csharp_checkpoint_with_optimizer_state_continues_in_python()
    {
        using var dir = Paths.NewTempDir("gid-torch-ckpt-cs");
        var ckpt = Path.Combine(dir.Path, "cs.pt");
        var final = Path.Combine(dir.Path, "final");
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(9);
        var x = torch.randn([4, 3, 8, 8]);
        var y = torch.randn([4, 2]);
        using var net = new SmallNet();
        using var opt = Adam(net);
        Steps(net, opt, x, y, 2);
        torch.manual_seed(78);
        TrainingCheckpoint.Save(ckpt, net, opt, new TrainingPosition(2, 3, 4));
        var draw = torch.randn(6);
        Steps(net, opt, x, y, 3);
        var io = Path.Combine(dir.Path, "io");
        PyTensors.Dump(new Dictionary<string, Tensor> { ["x"] = x, ["y"] = y }, io);

        Programs.RunPython(PyTensors.DumpFunction + SmallNet.PythonDefinition + Common + """

            io = load(sys.argv[3])
            c = torch.load(sys.argv[1])
            assert (c['step'], c['epoch'], c['batch_in_epoch']) == (2, 3, 4), c
            net, opt = make(0)
            net.load_state_dict(c['model'])
            opt.load_state_dict(c['optimizer'])
            assert opt.state[next(iter(net.parameters()))]['step'].item() == 2
            torch.set_rng_state(c['rng_state'])
            draw = torch.randn(6)
            steps(net, opt, io['x'], io['y'], 3)
            out = {k: v for k, v in net.state_dict().items()}
            out['draw'] = draw
            dump(out, sys.argv[2])
            """, [ckpt, final, io]);
        var expected = PyTensors.Load(final);
        Assert.Equal(draw.ToArray<float>(), expected["draw"].ToArray<float>());
        foreach (var (name, t) in net.state_dict())
            PyTensors.AssertClose(t, expected[name], 1e-6, name);
    }

    /// <summary>Loading keeps each parameter's requires_grad as the caller set it, with or without an EMA: a frozen part stays frozen.</summary>
    [Fact]
    public void Loading_keeps_frozen_parameters_frozen()
    {
        using var dir = Paths.NewTempDir("gid-torch-ckpt-frozen");
        using var net = new SmallNet();
        using var opt = Adam(net);
        var path = Path.Combine(dir.Path, "net.pt");
        TrainingCheckpoint.Save(path, net, opt, new TrainingPosition(1, 0, 1));
        var parameters = net.parameters().ToList();
        parameters[0].requires_grad = false;
        TrainingCheckpoint.Load(path, net, opt);
        Assert.False(parameters[0].requires_grad, "a frozen parameter came back trainable");
        Assert.All(parameters.Skip(1), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Bad_checkpoints_give_clear_errors()
    {
        using var dir = Paths.NewTempDir("gid-torch-ckpt-bad");
        using var net = new SmallNet();
        using var opt = Adam(net);
        var missing = Path.Combine(dir.Path, "nope.pt");
        Assert.Contains("nope.pt", Assert.Throws<FileNotFoundException>(() => TrainingCheckpoint.Load(missing, net, opt)).Message);
        var garbage = Path.Combine(dir.Path, "garbage.pt");
        File.WriteAllText(garbage, "not a zip");
        Assert.Contains("not a torch.save file", Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(garbage, net, opt)).Message);

        var other = Path.Combine(dir.Path, "other.pt");
        using (var linear = nn.Linear(8, 2))
        using (var linearOpt = torch.optim.AdamW(linear.parameters()))
            TrainingCheckpoint.Save(other, linear, linearOpt, new TrainingPosition(0, 0, 0));
        var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Load(other, net, opt));
        Assert.Contains("missing key(s): conv1.weight, conv1.bias, norm.weight", e.Message);
        Assert.Matches(@"unexpected key\(s\): (weight, bias|bias, weight)", e.Message);
    }
}
