using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GidCluster.Training.Distributed;
using GidCluster.Training.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using F = TorchSharp.torch.nn.functional;
using Tensor = TorchSharp.torch.Tensor;
#pragma warning disable CS8981
using nn = TorchSharp.torch.nn;
#pragma warning restore CS8981

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench torch</c>: one training step of the reference U-Net (../shared/bench/unet_step_reference.py),
/// built identically over TorchSharp (libtorch 2.10), timed against python3-torch (Debian's libtorch 1.13)
/// in the same run with the same thread count and OpenMP wait policy; first checks that the C# network
/// is the same (weights from the script's --save-init, one forward pass); also the per-op overhead of a
/// 1-element add and the latency of a 4 MB all-reduce over Gloo between two processes (ours and
/// python3-torch's gloo backend). Options: --batch 8 --steps 20 --warmup 2 --threads (cores).
/// </summary>
public sealed class TorchBenchmark : IBenchmark
{
    public string Name => "torch";

    public string Description => "U-Net training step over TorchSharp vs python3-torch (ratio C#/Python), per-op overhead, Gloo all-reduce latency";

    private const int AllReduceElements = 1 << 20; // 4 MB of float32
    private const int AllReduceRounds = 50;

    public Task<int> RunAsync(BenchContext context, CancellationToken cancel)
    {
        var peer = context.Arguments.ToList().IndexOf("--gloo-peer");
        if (peer >= 0)
            return Task.FromResult(GlooPeer(context.Arguments[peer + 1]));
        var waitPolicy = PythonStepper.WaitPolicyOrRunAgain(out var exitCode);
        return Task.FromResult(waitPolicy == null ? exitCode : Run(context, waitPolicy));
    }

    private int Run(BenchContext context, string waitPolicy)
    {
        var batch = Option(context.Arguments, "--batch", 8);
        var steps = Math.Max(1, Option(context.Arguments, "--steps", 20));
        var warmup = Math.Max(1, Option(context.Arguments, "--warmup", 2));
        var threads = Option(context.Arguments, "--threads", Environment.ProcessorCount);
        const int height = 40, width = 64;
        var script = Path.Combine(context.SharedRoot, "bench", "unet_step_reference.py");
        if (!File.Exists(script))
            throw new FileNotFoundException($"reference script not found: {script}", script);
        torch.set_num_threads(threads);

        // 1. Same network: the reference script run as it is (its own process, 5 steps: a cross-check of the
        // Python figure below) writes its initial weights; one forward pass on them in Python and here.
        var init = Path.Combine(context.ScratchDir, "unet_init.pt");
        var forward = Path.Combine(context.ScratchDir, "unet_forward.pt");
        var scriptJson = Python([script, "--save-init", init, "--batch", $"{batch}", "--height", $"{height}", "--width", $"{width}", "--steps", "5",
            "--warmup", $"{Math.Max(1, warmup)}", "--threads", $"{threads}", "--json"], TimeSpan.FromMinutes(30));
        double scriptMs;
        using (var doc = JsonDocument.Parse(scriptJson.Trim().Split('\n')[^1]))
            scriptMs = doc.RootElement.GetProperty("ms_per_step").GetDouble();
        Python(["-c", ForwardCheck, script, init, forward], TimeSpan.FromMinutes(3));
        double forwardError;
        using (var scope = torch.NewDisposeScope())
        using (var net = LoadUNet(init))
        {
            var py = PyTorchUnpickler.UnpickleStateDict(forward);
            using var noGrad = torch.no_grad();
            var ours = net.forward((Tensor)py["x"]!, (Tensor)py["t"]!, (Tensor)py["k"]!);
            forwardError = MaxRelative(ours, (Tensor)py["out"]!);
        }
        Console.WriteLine($"forward pass vs Python on the same weights: max relative error {forwardError:E2}");
        if (forwardError > 1e-4)
        {
            Console.Error.WriteLine("gid bench torch: the C# U-Net does not reproduce the reference network");
            return 1;
        }

        // 2. Training step, interleaved step by step with a Python process that holds the reference's
        // own network and runs the reference's step. Step times on this kind of machine swing by ±30%
        // within one process over seconds, so only fine interleaving lets that noise fall on both
        // sides alike; the order within each pair alternates too. Each figure is the median step.
        var pySteps = new List<double>();
        var csSteps = new List<double>();
        var pyAdds = new List<double>();
        var csAdds = new List<double>();
        long csFaults0 = 0, pyFaults0 = 0;
        double csFaults, pyFaults;
        using (var trainer = new Trainer(init, batch, height, width))
        using (var reference = new PythonStepper(["-c", Stepper, script, $"{batch}", $"{height}", $"{width}", $"{threads}", init], waitPolicy))
        {
            for (var i = 0; i < warmup + steps; i++)
            {
                double cs, py;
                if (i % 2 == 0) (cs, py) = (trainer.Step(), reference.Ask("step"));
                else (py, cs) = (reference.Ask("step"), trainer.Step());
                if (i == warmup - 1) (csFaults0, pyFaults0) = (MinorFaults(Environment.ProcessId), MinorFaults(reference.Pid));
                if (i < warmup) continue;
                csSteps.Add(cs);
                pySteps.Add(py);
                if ((i - warmup + 1) % 5 == 0)
                    Console.WriteLine($"step {i - warmup + 1}/{steps}: C# {BenchReport.Median(csSteps):F1} ms, Python {BenchReport.Median(pySteps):F1} ms (medians so far)");
            }
            // Fresh pages cost the kernel's zeroing inside the step: a cheap check that freed memory is reused.
            csFaults = (MinorFaults(Environment.ProcessId) - csFaults0) / (double)steps;
            pyFaults = (MinorFaults(reference.Pid) - pyFaults0) / (double)steps;

            // 3. Per-op overhead: a 1-element add, 100,000 at a time, alternating sides likewise.
            for (var i = 0; i < 2 + 9; i++)
            {
                double cs, py;
                if (i % 2 == 0) (cs, py) = (AddOverheadMicroseconds(), reference.Ask("add"));
                else (py, cs) = (reference.Ask("add"), AddOverheadMicroseconds());
                if (i < 2) continue;
                csAdds.Add(cs);
                pyAdds.Add(py);
            }
        }
        var pyMs = BenchReport.Median(pySteps);
        var csMs = BenchReport.Median(csSteps);
        Console.WriteLine($"training step (batch {batch}, {height}x{width}, {threads} threads): C# {csMs:F1} ms, Python {pyMs:F1} ms, ratio {csMs / pyMs:F3}");
        Console.WriteLine($"minor page faults per step: C# {csFaults:F0}, Python {pyFaults:F0}");

        Console.WriteLine($"reference script as it is (5 steps, its own process): {scriptMs:F1} ms per step");

        var pyAdd = BenchReport.Median(pyAdds);
        var csAdd = BenchReport.Median(csAdds);
        Console.WriteLine($"1-element add: C# {csAdd:F2} µs, Python {pyAdd:F2} µs, ratio {csAdd / pyAdd:F3}");

        // 4. A 4 MB all-reduce between two processes over Gloo on 127.0.0.1: ours (this process and a peer)
        // and python3-torch's gloo backend (two python3 processes).
        var (glooMs, glooFloorMs) = AllReduceLatency(context);
        var pyGlooMs = PythonAllReduceLatency(context, threads, waitPolicy);
        Console.WriteLine($"4 MB all-reduce, 2 processes: ours {glooMs:F2} ms (fastest {glooFloorMs:F2}), python3-torch gloo {pyGlooMs:F2} ms (medians of {AllReduceRounds})");
        var pyVersion = Python(["-c", "import torch; print(torch.__version__)"], TimeSpan.FromMinutes(1)).Trim();

        BenchReport.Print(Name,
        [
            new BenchFigure("unet_train_step", csMs, "ms", pyMs, csMs / pyMs, "<= 1.0"),
            new BenchFigure("unet_train_step_script_alone", scriptMs, "ms"),
            new BenchFigure("minor_page_faults_per_step", csFaults, "faults", pyFaults),
            new BenchFigure("add_1_element", csAdd, "us", pyAdd, csAdd / pyAdd),
            new BenchFigure("forward_max_relative_error", forwardError, "relative", Goal: "<= 1e-4"),
            new BenchFigure("allreduce_4mb_2_processes", glooMs, "ms", pyGlooMs, glooMs / pyGlooMs),
        ], new Dictionary<string, string>
        {
            ["threads"] = $"{threads} both sides",
            ["omp_wait_policy"] = $"{waitPolicy} both sides",
            ["batch"] = $"{batch}",
            ["steps"] = $"{steps} interleaved after {warmup} warm-up",
            ["libtorch_csharp"] = $"{TorchRuntime.LibTorchVersion} (TorchSharp {TorchRuntime.TorchSharpVersion}, oneDNN {(TorchRuntime.OneDnnEnabled ? "on" : "off")}, max ISA {TorchRuntime.OneDnnMaxIsa ?? "no cap"})",
            ["libtorch_python"] = pyVersion,
        });
        return 0;
    }

    /// <summary>The reference U-Net with the script's initial weights (its --save-init file).</summary>
    private static UNet LoadUNet(string init)
    {
        var net = new UNet();
        net.load_py(init);
        // load_py copies the saved requires_grad (False in a torch.save of a state dict) onto the parameters.
        foreach (var p in net.parameters()) p.requires_grad = true;
        return net;
    }

    /// <summary>Rank 0 of two: the peer is this command again (<c>--gloo-peer DIR</c>) in its own process.</summary>
    private static (double Median, double Fastest) AllReduceLatency(BenchContext context)
    {
        var store = Path.Combine(context.ScratchDir, "gloo-store");
        if (Directory.Exists(store)) Directory.Delete(store, recursive: true);
        var args = Environment.GetCommandLineArgs();
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true };
        foreach (var a in Path.GetFileNameWithoutExtension(host) == "dotnet" ? args[..1] : []) start.ArgumentList.Add(a);
        foreach (var a in new[] { "bench", "torch", "--gloo-peer", store }) start.ArgumentList.Add(a);
        using var peer = Process.Start(start) ?? throw new InvalidOperationException("could not start the all-reduce peer");
        var times = new List<double>();
        using (var group = ProcessGroup.Init("file://" + store, 0, 2, TimeSpan.FromSeconds(60)))
        using (var t = torch.ones(AllReduceElements))
        {
            for (var i = 0; i < 5 + AllReduceRounds; i++)
            {
                var clock = Stopwatch.StartNew();
                group.AllReduce(t);
                if (i >= 5) times.Add(clock.Elapsed.TotalMilliseconds);
            }
            group.Barrier();
        }
        if (!peer.WaitForExit(TimeSpan.FromSeconds(60))) peer.Kill(entireProcessTree: true);
        return (BenchReport.Median(times), times.Min());
    }

    private static int GlooPeer(string store)
    {
        using var group = ProcessGroup.Init("file://" + store, 1, 2, TimeSpan.FromSeconds(60));
        using var t = torch.ones(AllReduceElements);
        for (var i = 0; i < 5 + AllReduceRounds; i++) group.AllReduce(t);
        group.Barrier();
        return 0;
    }

    /// <summary>The same all-reduce through python3-torch's gloo backend (FileStore rendezvous, two processes); rank 0's median ms.</summary>
    private static double PythonAllReduceLatency(BenchContext context, int threads, string waitPolicy)
    {
        var store = Path.Combine(context.ScratchDir, "py-gloo-store");
        if (File.Exists(store)) File.Delete(store);
        var ranks = Enumerable.Range(0, 2).Select(rank => Task.Run(() => Python(["-c", PythonAllReduce, store, $"{rank}", $"{threads}",
            $"{AllReduceElements}", $"{AllReduceRounds}"], TimeSpan.FromMinutes(5), new() { ["OMP_WAIT_POLICY"] = waitPolicy }))).ToArray();
        Task.WaitAll(ranks);
        return double.Parse(ranks[0].Result.Trim(), CultureInfo.InvariantCulture);
    }

    private const string PythonAllReduce = """
        import sys, time, statistics, torch, torch.distributed as dist
        store, rank, threads, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        torch.set_num_threads(threads)
        dist.init_process_group('gloo', init_method='file://' + store, rank=rank, world_size=2)
        t = torch.ones(n); times = []
        for i in range(5 + rounds):
            s = time.perf_counter(); dist.all_reduce(t)
            if i >= 5: times.append((time.perf_counter() - s) * 1000)
        dist.barrier()
        print(statistics.median(times))
        """;

    /// <summary>The reference's training step on random data of the same shapes: zero_grad, MSE, backward, AdamW.</summary>
    private sealed class Trainer : IDisposable
    {
        private readonly UNet _net;
        private readonly torch.optim.Optimizer _opt;
        private readonly Tensor _x, _t, _k, _y;

        public Trainer(string init, int batch, int height, int width)
        {
            torch.manual_seed(0);
            _net = LoadUNet(init);
            _opt = torch.optim.AdamW(_net.parameters(), lr: 1e-4, weight_decay: 0.01);
            _x = torch.randn([batch, 7, height, width]);
            _t = torch.randint(0, 1000, [batch]);
            _k = torch.randint(0, 16, [batch]);
            _y = torch.randn([batch, 4, height, width]);
        }

        /// <summary>One step; returns its milliseconds.</summary>
        public double Step()
        {
            var clock = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
            {
                _opt.zero_grad();
                F.mse_loss(_net.forward(_x, _t, _k), _y).backward();
                _opt.step();
            }
            return clock.Elapsed.TotalMilliseconds;
        }

        public void Dispose()
        {
            _opt.Dispose();
            _net.Dispose();
            foreach (var t in new[] { _x, _t, _k, _y }) t.Dispose();
        }
    }

    // Run by a PythonStepper: answers "step" with one training step's milliseconds and "add" with the µs of
    // a 1-element add over 100,000 of them.
    // The reference's main() setup and loop body (seed, set_num_threads, UNet, AdamW(1e-4, 0.01),
    // randn/randint inputs; zero_grad(set_to_none=True), mse_loss, backward, step), one step per line.
    private const string Stepper = """
        import sys, importlib.util, time, torch
        import torch.nn.functional as F
        spec = importlib.util.spec_from_file_location('unet_ref', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        b, h, w, threads = (int(v) for v in sys.argv[2:6])
        torch.manual_seed(0)
        torch.set_num_threads(threads)
        net = m.UNet()
        net.load_state_dict(torch.load(sys.argv[6]))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
        x = torch.randn(b, 7, h, w); t = torch.randint(0, 1000, (b,)); k = torch.randint(0, 16, (b,)); y = torch.randn(b, 4, h, w)
        a1 = torch.ones(1); b1 = torch.ones(1)
        print('ready', flush=True)
        for line in sys.stdin:
            if line.strip() == 'add':
                s = time.perf_counter()
                for _ in range(100000): a1 + b1
                print((time.perf_counter() - s) * 10, flush=True)
                continue
            s = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(net(x, t, k), y)
            loss.backward()
            opt.step()
            print((time.perf_counter() - s) * 1000, flush=True)
        """;

    /// <summary>Minor page faults of a process so far (field 10 of /proc/PID/stat; the name field has no spaces here).</summary>
    private static long MinorFaults(int pid) =>
        long.Parse(File.ReadAllText($"/proc/{pid}/stat").Split(' ')[9], CultureInfo.InvariantCulture);

    private static double AddOverheadMicroseconds()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones([1]);
        var b = torch.ones([1]);
        const int n = 100_000;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < n; i++) (a + b).Dispose();
        return clock.Elapsed.TotalMicroseconds / n;
    }

    private static double MaxRelative(Tensor actual, Tensor expected)
    {
        var a = actual.contiguous().data<float>().ToArray();
        var b = expected.contiguous().data<float>().ToArray();
        double diff = 0, scale = 0;
        for (var i = 0; i < a.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(a[i] - b[i]));
            scale = Math.Max(scale, Math.Abs(b[i]));
        }
        return diff / scale;
    }

    private static int Option(IReadOnlyList<string> args, string name, int fallback)
    {
        var i = args.ToList().IndexOf(name);
        if (i < 0) return fallback;
        if (i + 1 >= args.Count || !int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < 0)
            throw new ArgumentException($"{name} needs a non-negative integer");
        return v;
    }

    private static string Python(IEnumerable<string> args, TimeSpan limit, Dictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment ?? []) start.Environment[k] = v;
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 did not finish within {limit}");
        }
        if (p.ExitCode != 0) throw new InvalidOperationException($"python3 failed ({p.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }

    // Imports the reference script as a module (without running its main), loads its --save-init
    // weights and saves one forward pass on seeded inputs.
    private const string ForwardCheck = """
        import sys, importlib.util, torch
        spec = importlib.util.spec_from_file_location('unet_ref', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        net = m.UNet()
        net.load_state_dict(torch.load(sys.argv[2]))
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 7, 40, 64, generator=g); t = torch.randint(0, 1000, (2,), generator=g); k = torch.randint(0, 16, (2,), generator=g)
        with torch.no_grad():
            out = net(x, t, k)
        torch.save({'x': x, 't': t, 'k': k, 'out': out}, sys.argv[3])
        """;


    /// <summary>sin/cos embedding of a [B] index tensor → [B, dim], as the reference's <c>sinusoid</c>.</summary>
    private static Tensor Sinusoid(Tensor x, int dim)
    {
        using var scope = torch.NewDisposeScope();
        var half = dim / 2;
        var freqs = (-Math.Log(10000.0) * torch.arange(0, half, 1, torch.float32) / half).exp();
        var a = x.to(torch.float32).unsqueeze(1) * freqs.unsqueeze(0);
        return torch.cat([a.cos(), a.sin()], 1).MoveToOuterDisposeScope();
    }

    /// <summary>GroupNorm-SiLU-conv twice with the embedding added in between; [B, Cin, H, W] → [B, Cout, H, W].</summary>
    private sealed class ResBlock : nn.Module<Tensor, Tensor, Tensor>
    {
        private readonly AutocastGroupNorm norm1;
        private readonly ChannelPaddedConv2d conv1;
        private readonly Linear emb;
        private readonly AutocastGroupNorm norm2;
        private readonly ChannelPaddedConv2d conv2;
        private readonly nn.Module<Tensor, Tensor> skip;

        public ResBlock(long cin, long cout, long temb) : base(nameof(ResBlock))
        {
            norm1 = Layers.GroupNorm(32, cin);
            conv1 = Layers.Conv2d(cin, cout, 3, padding: 1);
            emb = nn.Linear(temb, cout);
            norm2 = Layers.GroupNorm(32, cout);
            conv2 = Layers.Conv2d(cout, cout, 3, padding: 1);
            skip = cin != cout ? Layers.Conv2d(cin, cout, 1) : nn.Identity();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x, Tensor e)
        {
            using var scope = torch.NewDisposeScope();
            var h = conv1.forward(F.silu(norm1.forward(x)));
            h = h + emb.forward(F.silu(e)).unsqueeze(2).unsqueeze(3);
            h = conv2.forward(F.silu(norm2.forward(h)));
            return (skip.forward(x) + h).MoveToOuterDisposeScope();
        }
    }

    /// <summary>Multi-head self-attention over the H·W positions, residual; [B, C, H, W] → same.</summary>
    private sealed class Attention : nn.Module<Tensor, Tensor>
    {
        private readonly AutocastGroupNorm norm;
        private readonly ChannelPaddedConv2d qkv;
        private readonly ChannelPaddedConv2d proj;
        private readonly long _heads;

        public Attention(long c, long heads = 4) : base(nameof(Attention))
        {
            _heads = heads;
            norm = Layers.GroupNorm(32, c);
            qkv = Layers.Conv2d(c, 3 * c, 1);
            proj = Layers.Conv2d(c, c, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var s = x.shape;
            long b = s[0], c = s[1], h = s[2], w = s[3], d = c / _heads;
            var parts = qkv.forward(norm.forward(x)).reshape(b, 3, _heads, d, h * w).unbind(1);
            var a = (torch.einsum("bhdi,bhdj->bhij", parts[0], parts[1]) / Math.Sqrt(d)).softmax(-1);
            var o = torch.einsum("bhij,bhdj->bhdi", a, parts[2]).reshape(b, c, h, w);
            return (x + proj.forward(o)).MoveToOuterDisposeScope();
        }
    }

    /// <summary>The reference U-Net (in 7, out 4, base 64, mult (1, 2, 2), 2 blocks, attention at the lowest level); parameter names as in Python.</summary>
    private sealed class UNet : nn.Module
    {
        private readonly Linear t1, t2, f1, f2;
        private readonly ChannelPaddedConv2d inp;
        private readonly ModuleList<ModuleList<nn.Module>> down = nn.ModuleList<ModuleList<nn.Module>>();
        private readonly ResBlock mid1;
        private readonly Attention mid_attn;
        private readonly ResBlock mid2;
        private readonly ModuleList<ModuleList<nn.Module>> up = nn.ModuleList<ModuleList<nn.Module>>();
        private readonly AutocastGroupNorm out_norm;
        private readonly ChannelPaddedConv2d @out;

        public UNet(long cin = 7, long cout = 4, long @base = 64, long[]? mult = null, int blocks = 2, long temb = 256) : base(nameof(UNet))
        {
            mult ??= [1, 2, 2];
            (t1, t2, f1, f2) = (nn.Linear(64, temb), nn.Linear(temb, temb), nn.Linear(64, temb), nn.Linear(temb, temb));
            inp = Layers.Conv2d(cin, @base, 3, padding: 1);
            var chans = new Stack<long>([@base]);
            var c = @base;
            for (var i = 0; i < mult.Length; i++)
            {
                for (var j = 0; j < blocks; j++)
                {
                    var blk = nn.ModuleList<nn.Module>(new ResBlock(c, @base * mult[i], temb));
                    c = @base * mult[i];
                    if (i == mult.Length - 1) blk.append(new Attention(c));
                    down.append(blk);
                    chans.Push(c);
                }
                if (i != mult.Length - 1)
                {
                    down.append(nn.ModuleList<nn.Module>(Layers.Conv2d(c, c, 3, stride: 2, padding: 1)));
                    chans.Push(c);
                }
            }
            (mid1, mid_attn, mid2) = (new ResBlock(c, c, temb), new Attention(c), new ResBlock(c, c, temb));
            for (var i = mult.Length - 1; i >= 0; i--)
            {
                for (var j = 0; j <= blocks; j++)
                {
                    var blk = nn.ModuleList<nn.Module>(new ResBlock(c + chans.Pop(), @base * mult[i], temb));
                    c = @base * mult[i];
                    if (i == mult.Length - 1) blk.append(new Attention(c));
                    if (i != 0 && j == blocks)
                    {
                        blk.append(nn.Upsample(scale_factor: [2.0, 2.0]));
                        blk.append(Layers.Conv2d(c, c, 3, padding: 1));
                    }
                    up.append(blk);
                }
            }
            out_norm = Layers.GroupNorm(32, c);
            @out = Layers.Conv2d(c, cout, 3, padding: 1);
            RegisterComponents();
        }

        private static Tensor Apply(nn.Module layer, Tensor h, Tensor e) => layer switch
        {
            ResBlock r => r.forward(h, e),
            nn.Module<Tensor, Tensor> m => m.call(h),
            _ => throw new InvalidOperationException($"unexpected layer {layer.GetName()}"),
        };

        /// <summary>x [B, 7, H, W], t and k [B] int64 → [B, 4, H, W].</summary>
        public Tensor forward(Tensor x, Tensor t, Tensor k)
        {
            using var scope = torch.NewDisposeScope();
            var e = t2.forward(F.silu(t1.forward(Sinusoid(t, 64)))) + f2.forward(F.silu(f1.forward(Sinusoid(k, 64))));
            var h = inp.forward(x);
            var hs = new Stack<Tensor>([h]);
            foreach (var blk in down)
            {
                foreach (var layer in blk) h = Apply(layer, h, e);
                hs.Push(h);
            }
            h = mid2.forward(mid_attn.forward(mid1.forward(h, e)), e);
            foreach (var blk in up)
            {
                h = torch.cat([h, hs.Pop()], 1);
                foreach (var layer in blk) h = Apply(layer, h, e);
            }
            return @out.forward(F.silu(out_norm.forward(h))).MoveToOuterDisposeScope();
        }
    }
}
