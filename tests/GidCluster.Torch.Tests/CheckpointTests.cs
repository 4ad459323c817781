namespace GidCluster.Torch.Tests;

/// <summary>
/// Checkpoints in torch.save's format both ways, with optimizer state: training continued on the
/// other side from a checkpoint must end where uninterrupted training ends (1e-6).
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

    private static void Steps(SmallNet net, optim.AdamW opt, Tensor x, Tensor y, int n)
    {
        for (var i = 0; i < n; i++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.forward(x), y).backward();
            opt.step();
        }
    }

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
            torch.save({'model': net.state_dict(), 'optimizer': opt.state_dict(), 'x': x, 'y': y, 'epoch': 2, 'note': 'hello'}, sys.argv[1])
            steps(net, opt, x, y, 3)
            dump({k: v for k, v in net.state_dict().items()}, sys.argv[2])
            """, [ckpt, final]);

        using var scope = torch.NewDisposeScope();
        var loaded = (Dictionary<string, object?>)torch.load(ckpt)!;
        Assert.Equal(2L, loaded["epoch"]);
        Assert.Equal("hello", loaded["note"]);
        using var net = new SmallNet();
        net.load_state_dict(torch.AsStateDict(loaded["model"], "model"));
        using var opt = new optim.AdamW(net.parameters(), lr: 0.02, beta1: 0.9, beta2: 0.99, weight_decay: 0.05);
        opt.load_state_dict(loaded["optimizer"]);
        Assert.Equal(2, opt.state[net.parameters().First()].step);
        Steps(net, opt, (Tensor)loaded["x"]!, (Tensor)loaded["y"]!, 3);
        var expected = PyTensors.Load(final);
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
        using var g = new torch.Generator(9);
        var x = torch.randn([4, 3, 8, 8], g);
        var y = torch.randn([4, 2], g);
        using var net = new SmallNet();
        using var opt = new optim.AdamW(net.parameters(), lr: 0.02, beta1: 0.9, beta2: 0.99, weight_decay: 0.05);
        Steps(net, opt, x, y, 2);
        torch.save(new Dictionary<string, object?>
        {
            ["model"] = net.state_dict(),
            ["optimizer"] = opt.state_dict(),
            ["x"] = x,
            ["y"] = y,
            ["names"] = new List<object?> { "a", 1L, 2.5, true, null, new torch.PyTuple(1L, 2L) },
        }, ckpt);
        Steps(net, opt, x, y, 3);

        Programs.RunPython(PyTensors.DumpFunction + SmallNet.PythonDefinition + Common + """

            c = torch.load(sys.argv[1])
            assert c['names'] == ['a', 1, 2.5, True, None, (1, 2)], c['names']
            net, opt = make(0)
            net.load_state_dict(c['model'])
            opt.load_state_dict(c['optimizer'])
            assert opt.state[next(iter(net.parameters()))]['step'].item() == 2
            steps(net, opt, c['x'], c['y'], 3)
            dump({k: v for k, v in net.state_dict().items()}, sys.argv[2])
            """, [ckpt, final]);
        var expected = PyTensors.Load(final);
        foreach (var (name, t) in net.state_dict())
            PyTensors.AssertClose(t, expected[name], 1e-6, name);
    }

    [Fact]
    public void Bad_checkpoint_paths_and_values_give_clear_errors()
    {
        using var dir = Paths.NewTempDir("gid-torch-ckpt-bad");
        var missing = Path.Combine(dir.Path, "nope.pt");
        Assert.Contains("nope.pt", Assert.Throws<FileNotFoundException>(() => torch.load(missing)).Message);
        var garbage = Path.Combine(dir.Path, "garbage.pt");
        File.WriteAllText(garbage, "not a zip");
        Assert.Contains("not a torch.save file", Assert.Throws<InvalidDataException>(() => torch.load(garbage)).Message);
        Assert.Throws<ArgumentException>(() => torch.save(new Dictionary<string, object?> { ["x"] = DateTime.Now }, garbage));
        var notTensors = Path.Combine(dir.Path, "ints.pt");
        torch.save(new Dictionary<string, object?> { ["a"] = 1L }, notTensors);
        Assert.Contains("entry 'a'", Assert.Throws<InvalidDataException>(() => torch.load_state_dict(notTensors)).Message);
    }
}
