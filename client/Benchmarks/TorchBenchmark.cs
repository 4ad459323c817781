using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GidCluster.Torch;
using F = GidCluster.Torch.torch.nn.functional;
using Tensor = GidCluster.Torch.torch.Tensor;
#pragma warning disable CS8981
using nn = GidCluster.Torch.torch.nn;
using optim = GidCluster.Torch.torch.optim;
#pragma warning restore CS8981

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// <c>gid bench torch</c>: one training step of the reference U-Net (../shared/bench/unet_step_reference.py),
/// built identically over our binding, timed against Python in the same run with the same thread
/// count; first checks that the C# network is the same (Python's initial weights, one forward pass);
/// also the per-op overhead of a 1-element add. Options: --batch 8 --steps 20 --warmup 2 --threads (cores).
/// </summary>
public sealed class TorchBenchmark : IBenchmark
{
    public string Name => "torch";

    public string Description => "U-Net training step over the libtorch binding vs python3-torch (ratio C#/Python), plus per-op overhead";

    public Task<int> RunAsync(BenchContext context, CancellationToken cancel)
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

        // 1. Same network: Python's initial weights and one forward pass on Python's inputs.
        var init = Path.Combine(context.ScratchDir, "unet_init.pt");
        var forward = Path.Combine(context.ScratchDir, "unet_forward.pt");
        Python(["-c", ForwardCheck, script, init, forward], TimeSpan.FromMinutes(3));
        double forwardError;
        using (var scope = torch.NewDisposeScope())
        using (var net = new UNet())
        {
            net.load_state_dict(torch.load_state_dict(init));
            var py = (Dictionary<string, object?>)torch.load(forward)!;
            using var noGrad = torch.no_grad();
            var ours = net.forward((Tensor)py["x"]!, (Tensor)py["t"]!, (Tensor)py["k"]!);
            forwardError = MaxRelative(ours, (Tensor)py["out"]!);
        }
        Console.WriteLine($"forward pass vs Python on the same weights: max relative error {forwardError:E2}");
        if (forwardError > 1e-4)
        {
            Console.Error.WriteLine("gid bench torch: the C# U-Net does not reproduce the reference network");
            return Task.FromResult(1);
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
        using (var trainer = new Trainer(batch, height, width))
        using (var reference = new PythonStepper(script, batch, height, width, threads))
        {
            for (var i = 0; i < warmup + steps; i++)
            {
                double cs, py;
                if (i % 2 == 0) (cs, py) = (trainer.Step(), reference.Step());
                else (py, cs) = (reference.Step(), trainer.Step());
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
                if (i % 2 == 0) (cs, py) = (AddOverheadMicroseconds(), reference.AddMicroseconds());
                else (py, cs) = (reference.AddMicroseconds(), AddOverheadMicroseconds());
                if (i < 2) continue;
                csAdds.Add(cs);
                pyAdds.Add(py);
            }
        }
        var pyMs = BenchReport.Median(pySteps);
        var csMs = BenchReport.Median(csSteps);
        Console.WriteLine($"training step (batch {batch}, {height}x{width}, {threads} threads): C# {csMs:F1} ms, Python {pyMs:F1} ms, ratio {csMs / pyMs:F3}");
        Console.WriteLine($"minor page faults per step: C# {csFaults:F0}, Python {pyFaults:F0}");

        // The reference script run as it is, once, as a cross-check of the Python figure above.
        var scriptJson = Python([script, "--batch", $"{batch}", "--height", $"{height}", "--width", $"{width}", "--steps", "5",
            "--warmup", $"{Math.Max(1, warmup)}", "--threads", $"{threads}", "--json"], TimeSpan.FromMinutes(30));
        double scriptMs;
        using (var doc = JsonDocument.Parse(scriptJson.Trim().Split('\n')[^1]))
            scriptMs = doc.RootElement.GetProperty("ms_per_step").GetDouble();
        Console.WriteLine($"reference script as it is (5 steps, its own process): {scriptMs:F1} ms per step");

        var pyAdd = BenchReport.Median(pyAdds);
        var csAdd = BenchReport.Median(csAdds);
        Console.WriteLine($"1-element add: C# {csAdd:F2} µs, Python {pyAdd:F2} µs, ratio {csAdd / pyAdd:F3}");

        BenchReport.Print(Name,
        [
            new BenchFigure("unet_train_step", csMs, "ms", pyMs, csMs / pyMs, "<= 1.0"),
            new BenchFigure("unet_train_step_script_alone", scriptMs, "ms"),
            new BenchFigure("minor_page_faults_per_step", csFaults, "faults", pyFaults),
            new BenchFigure("add_1_element", csAdd, "us", pyAdd, csAdd / pyAdd),
            new BenchFigure("forward_max_relative_error", forwardError, "relative", Goal: "<= 1e-4"),
        ], new Dictionary<string, string>
        {
            ["threads"] = $"{threads}",
            ["batch"] = $"{batch}",
            ["steps"] = $"{steps} interleaved after {warmup} warm-up",
            ["libtorch"] = torch.__version__,
        });
        return Task.FromResult(0);
    }

    /// <summary>The reference's training step on random data of the same shapes: zero_grad, MSE, backward, AdamW.</summary>
    private sealed class Trainer : IDisposable
    {
        private readonly UNet _net;
        private readonly optim.AdamW _opt;
        private readonly Tensor _x, _t, _k, _y;

        public Trainer(int batch, int height, int width)
        {
            torch.manual_seed(0);
            _net = new UNet();
            _opt = new optim.AdamW(_net.parameters(), lr: 1e-4, weight_decay: 0.01);
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

    /// <summary>
    /// A python3 process holding the reference script's network (imported, not modified) that runs
    /// the script's training step once per request and answers with its milliseconds (or, asked
    /// "add", times 100,000 1-element adds).
    /// </summary>
    private sealed class PythonStepper : IDisposable
    {
        private readonly Process _process;

        public PythonStepper(string script, int batch, int height, int width, int threads)
        {
            var start = new ProcessStartInfo("/usr/bin/python3")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[] { "-c", Stepper, script, $"{batch}", $"{height}", $"{width}", $"{threads}" }) start.ArgumentList.Add(a);
            _process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"python3: {e.Data}"); };
            _process.BeginErrorReadLine();
            var ready = _process.StandardOutput.ReadLine();
            if (ready != "ready") throw new InvalidOperationException($"the Python reference stepper did not start (said: {ready ?? "nothing"})");
        }

        public int Pid => _process.Id;

        /// <summary>One training step; its milliseconds.</summary>
        public double Step() => Ask("step");

        /// <summary>Microseconds per 1-element add, over 100,000 of them.</summary>
        public double AddMicroseconds() => Ask("add");

        private double Ask(string command)
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
            var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the Python reference stepper exited");
            return double.Parse(line, CultureInfo.InvariantCulture);
        }

        public void Dispose()
        {
            try
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(TimeSpan.FromSeconds(30))) _process.Kill(entireProcessTree: true);
            }
            finally { _process.Dispose(); }
        }

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
    }

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
        var a = actual.ToArray<float>();
        var b = expected.ToArray<float>();
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

    private static string Python(IEnumerable<string> args, TimeSpan limit)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
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

    // Imports the reference script as a module (without running its main), saves its initial weights
    // and one forward pass on seeded inputs.
    private const string ForwardCheck = """
        import sys, importlib.util, torch
        spec = importlib.util.spec_from_file_location('unet_ref', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        torch.manual_seed(0)
        net = m.UNet()
        torch.save(net.state_dict(), sys.argv[2])
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
        private readonly nn.GroupNorm norm1;
        private readonly nn.Conv2d conv1;
        private readonly nn.Linear emb;
        private readonly nn.GroupNorm norm2;
        private readonly nn.Conv2d conv2;
        private readonly nn.Module<Tensor, Tensor> skip;

        public ResBlock(long cin, long cout, long temb) : base(nameof(ResBlock))
        {
            norm1 = new nn.GroupNorm(32, cin);
            conv1 = new nn.Conv2d(cin, cout, 3, padding: 1);
            emb = new nn.Linear(temb, cout);
            norm2 = new nn.GroupNorm(32, cout);
            conv2 = new nn.Conv2d(cout, cout, 3, padding: 1);
            skip = cin != cout ? new nn.Conv2d(cin, cout, 1) : new nn.Identity();
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
        private readonly nn.GroupNorm norm;
        private readonly nn.Conv2d qkv;
        private readonly nn.Conv2d proj;
        private readonly long _heads;

        public Attention(long c, long heads = 4) : base(nameof(Attention))
        {
            _heads = heads;
            norm = new nn.GroupNorm(32, c);
            qkv = new nn.Conv2d(c, 3 * c, 1);
            proj = new nn.Conv2d(c, c, 1);
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
        private readonly nn.Linear t1, t2, f1, f2;
        private readonly nn.Conv2d inp;
        private readonly nn.ModuleList<nn.ModuleList<nn.Module>> down = new();
        private readonly ResBlock mid1;
        private readonly Attention mid_attn;
        private readonly ResBlock mid2;
        private readonly nn.ModuleList<nn.ModuleList<nn.Module>> up = new();
        private readonly nn.GroupNorm out_norm;
        private readonly nn.Conv2d @out;

        public UNet(long cin = 7, long cout = 4, long @base = 64, long[]? mult = null, int blocks = 2, long temb = 256) : base(nameof(UNet))
        {
            mult ??= [1, 2, 2];
            (t1, t2, f1, f2) = (new nn.Linear(64, temb), new nn.Linear(temb, temb), new nn.Linear(64, temb), new nn.Linear(temb, temb));
            inp = new nn.Conv2d(cin, @base, 3, padding: 1);
            var chans = new Stack<long>([@base]);
            var c = @base;
            for (var i = 0; i < mult.Length; i++)
            {
                for (var j = 0; j < blocks; j++)
                {
                    var blk = new nn.ModuleList<nn.Module>(new ResBlock(c, @base * mult[i], temb));
                    c = @base * mult[i];
                    if (i == mult.Length - 1) blk.append(new Attention(c));
                    down.append(blk);
                    chans.Push(c);
                }
                if (i != mult.Length - 1)
                {
                    down.append(new nn.ModuleList<nn.Module>(new nn.Conv2d(c, c, 3, stride: 2, padding: 1)));
                    chans.Push(c);
                }
            }
            (mid1, mid_attn, mid2) = (new ResBlock(c, c, temb), new Attention(c), new ResBlock(c, c, temb));
            for (var i = mult.Length - 1; i >= 0; i--)
            {
                for (var j = 0; j <= blocks; j++)
                {
                    var blk = new nn.ModuleList<nn.Module>(new ResBlock(c + chans.Pop(), @base * mult[i], temb));
                    c = @base * mult[i];
                    if (i == mult.Length - 1) blk.append(new Attention(c));
                    if (i != 0 && j == blocks)
                    {
                        blk.append(new nn.Upsample(2));
                        blk.append(new nn.Conv2d(c, c, 3, padding: 1));
                    }
                    up.append(blk);
                }
            }
            out_norm = new nn.GroupNorm(32, c);
            @out = new nn.Conv2d(c, cout, 3, padding: 1);
            RegisterComponents();
        }

        private static Tensor Apply(nn.Module layer, Tensor h, Tensor e) => layer switch
        {
            ResBlock r => r.forward(h, e),
            nn.Module<Tensor, Tensor> m => m.forward(h),
            _ => throw new InvalidOperationException($"unexpected layer {layer.GetName}"),
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
