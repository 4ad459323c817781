using System.Diagnostics;
using System.Globalization;
using GidCluster.Native;
using GidCluster.Training.Distributed;
using GidCluster.Training.Tensors;
using TorchSharp.Modules;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Entry point when this assembly runs as a child process (<c>dotnet GidCluster.Torch.Tests.dll MODE ...</c>):
/// one rank of a distributed test, or a memory measurement. Rank and world come from RANK / WORLD_SIZE.
/// </summary>
public static class Worker
{
    public static int Main(string[] args)
    {
        try
        {
            return args[0] switch
            {
                "collectives" => Collectives(Join(args[1])),
                "collectives-env" => Collectives(ProcessGroup.FromEnvironment(TimeSpan.FromSeconds(30))),
                "ddp" => DataParallel(args[1], args[2], Int(args[3]), Int(args[4])),
                "die" => DeadRank(args[1]),
                "memory" => Memory(Int(args[1]), Int(args[2])),
                "faults" => Faults(args.Length > 1 && args[1] == "onednn"),
                "matmul-abort" => MatMulAbort(),
                "onednn-conv" => OneDnnConvolution(),
                "layer-probe" => ProbeLayers(Int(args[1]), args[2..]),
                "scalar-race" => ScalarQuarantineTests.Race(double.Parse(args[1], CultureInfo.InvariantCulture)),
                "train" => GidCluster.Training.Trainer.RankProcess.Run(args[1], TimeSpan.FromSeconds(60)),
                _ => throw new ArgumentException($"unknown worker mode {args[0]}"),
            };
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    /// <summary>The exact-sum input-gradient error of batches 1–4 on one thread (ERRORS: plain conv2d, PADDED: Layers.Conv2d), with this process's oneDNN settings (ONEDNN_MAX_CPU_ISA from the environment).</summary>
    private static int OneDnnConvolution()
    {
        torch.set_num_threads(1);
        Console.WriteLine($"max ISA {TorchRuntime.OneDnnMaxIsa ?? "(no cap)"}");
        foreach (var (label, padded) in new[] { ("ERRORS", false), ("PADDED", true) })
        {
            var errors = Enumerable.Range(1, 4).Select(batch => ConvolutionGradientTests.InputGradientError(batch, padded));
            Console.WriteLine(label + " " + string.Join(' ', errors.Select(e => e.ToString("R", CultureInfo.InvariantCulture))));
        }
        return 0;
    }

    /// <summary>
    /// <c>layer-probe THREADS [padded] SET...</c> (SET: grid, wide, bench, or model config names such as tiny, paper): float32 layers
    /// against float64 with this process's oneDNN settings (set ONEDNN_MAX_CPU_ISA in the environment to try others).
    /// </summary>
    private static int ProbeLayers(int threads, string[] sets)
    {
        torch.set_num_threads(threads);
        Console.WriteLine($"threads {threads}, oneDNN {(TorchRuntime.OneDnnEnabled ? "on" : "off")}, max ISA {TorchRuntime.OneDnnMaxIsa ?? "(no cap)"}");
        // "padded": convolutions as the models compute them (Layers.Conv2d), else plain conv2d.
        var padded = sets.Contains("padded");
        var cases = sets.Where(set => set != "padded").SelectMany(set => set switch
        {
            "grid" => LayerProbe.Grid(),
            "wide" => LayerProbe.WideGrid(),
            "bench" => LayerProbe.BenchUNetLayers(),
            _ => LayerProbe.ModelLayers(set),
        });
        LayerProbe.Report(cases, Console.Out, padded);
        return 0;
    }

    private static int MatMulAbort()
    {
        try
        {
            using var bad = torch.ones([2, 3]).matmul(torch.ones([4, 5]));
        }
        catch (Exception e)
        {
            Console.WriteLine("survived: " + e.Message);
        }
        return 0;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    private static ProcessGroup Join(string storeDir, double timeoutSeconds = 30) =>
        ProcessGroup.Init("file://" + storeDir, Int(Environment.GetEnvironmentVariable("RANK")!), Int(Environment.GetEnvironmentVariable("WORLD_SIZE")!),
            TimeSpan.FromSeconds(timeoutSeconds));

    private static void Expect(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException("check failed: " + what);
    }

    private static int Collectives(ProcessGroup group)
    {
        using var pg = group;
        using var scope = torch.NewDisposeScope();
        int rank = pg.Rank, world = pg.Size;
        var t = torch.tensor(new[] { rank + 1f, 10f * (rank + 1) });
        pg.AllReduce(t);
        Expect(t.ToArray<float>().SequenceEqual([3f, 30f]), $"all_reduce sum gave {string.Join(",", t.ToArray<float>())}");
        var a = torch.tensor(new[] { rank + 1.0, 4.0 });
        pg.AllReduce(a, ReduceOp.Average);
        Expect(a.ToArray<double>().SequenceEqual([1.5, 4.0]), "all_reduce avg (float64)");
        var m = torch.tensor(new[] { (long)rank, -rank });
        pg.AllReduce(m, ReduceOp.Max);
        Expect(m.ToArray<long>().SequenceEqual([world - 1L, 0L]), "all_reduce max (int64)");
        var n = torch.tensor(new[] { rank + 5 });
        pg.AllReduce(n, ReduceOp.Min);
        Expect(n.ToArray<int>().SequenceEqual([5]), "all_reduce min (int32)");
        var b = rank == 1 ? torch.tensor(new[] { 7L, 8L, 9L }) : torch.zeros([3], torch.int64);
        pg.Broadcast(b, src: 1);
        Expect(b.ToArray<long>().SequenceEqual([7L, 8L, 9L]), "broadcast from rank 1");
        var view = torch.zeros([2, 3]).slice(1, 0, 3, 2);
        Expect(Throws<ArgumentException>(() => pg.AllReduce(view)).Contains("not contiguous"), "non-contiguous tensor rejected");
        Expect(Throws<ArgumentException>(() => pg.AllReduce(torch.zeros([2], torch.float16))).Contains("Float16"), "float16 rejected");
        pg.Barrier();
        Console.WriteLine($"rank {rank}/{world} ok");
        return 0;
    }

    private static string Throws<T>(Action a) where T : Exception
    {
        try
        {
            a();
        }
        catch (T e)
        {
            return e.Message;
        }
        throw new InvalidOperationException($"expected {typeof(T).Name}");
    }

    /// <summary>Builds SmallNet with a rank-dependent seed (DDP must replace it by rank 0's), trains on this rank's share of the batch.</summary>
    private static int DataParallel(string storeDir, string output, int perRank, int steps)
    {
        using var pg = Join(storeDir);
        torch.manual_seed(100 + pg.Rank);
        using var net = new SmallNet();
        var ddp = new DistributedDataParallel<SmallNet>(net, pg, bucketCapMb: 0.001); // tiny buckets: several all-reduces
        Expect(ddp.BucketCount > 1, "several buckets");
        var (x, y) = DdpData(perRank * pg.Size);
        using var xs = x.narrow(0, pg.Rank * perRank, perRank);
        using var ys = y.narrow(0, pg.Rank * perRank, perRank);
        using var opt = torch.optim.AdamW(net.parameters(), lr: 0.01);
        for (var step = 0; step < steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(ddp.Module.call(xs), ys).backward();
            ddp.AverageGradients();
            opt.step();
        }
        net.save(output + "." + pg.Rank);
        pg.Barrier();
        return 0;
    }

    /// <summary>Rank 1 joins and exits; rank 0 then all-reduces and must fail with Gloo's error, not hang.</summary>
    private static int DeadRank(string storeDir)
    {
        var pg = Join(storeDir, timeoutSeconds: 10);
        if (pg.Rank == 1)
            Environment.Exit(3); // no goodbye: the process is just gone
        Thread.Sleep(500);
        var clock = Stopwatch.StartNew();
        try
        {
            using var t = torch.ones(1 << 20);
            for (var i = 0; i < 100; i++) pg.AllReduce(t);
            Console.WriteLine("UNEXPECTED all-reduces completed without rank 1");
            return 1;
        }
        catch (NativeException e)
        {
            Console.WriteLine($"FAILED_AFTER_MS {clock.ElapsedMilliseconds}");
            Console.WriteLine($"ERROR {e.Message}");
            return 0;
        }
    }

    internal static (Tensor x, Tensor y) DdpData(int batch)
    {
        using var g = new torch.Generator(7);
        return (torch.randn([batch, 3, 8, 8], generator: g), torch.randn([batch, 2], generator: g));
    }

    /// <summary>Trains SmallNet for <paramref name="iterations"/> steps in dispose scopes; prints RSS after warm-up and at the end.</summary>
    private static int Memory(int iterations, int warmup)
    {
        torch.set_num_threads(1); // a memory test: one thread keeps it quick on a busy machine
        torch.manual_seed(1);
        using var net = new SmallNet();
        using var opt = torch.optim.AdamW(net.parameters(), lr: 1e-3);
        var (x, y) = DdpData(4);
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.call(x), y).backward();
            opt.step();
        }
        // Warm-up lasts until the Scalar quarantine frees as fast as it holds (its first grace period has passed), so the
        // measured steps start from its steady state: it holds the Scalars of the last grace period by design.
        for (var i = 0; i < warmup || (ScalarQuarantine.Installed && ScalarQuarantine.Stats().Freed == 0); i++)
            Step();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var afterWarmup = Rss();
        for (var i = warmup; i < iterations; i++)
            Step();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Console.WriteLine($"RSS_WARM {afterWarmup} RSS_END {Rss()}");
        return 0;
    }

    /// <summary>
    /// Training steps of a conv net with 8 MB activations, freed in batches as scopes end;
    /// prints the minor page faults per step after warm-up.
    /// </summary>
    private static int Faults(bool oneDnn)
    {
        TorchRuntime.OneDnnEnabled = oneDnn;
        torch.set_num_threads(1);
        torch.manual_seed(1);
        using var net = nn.Sequential(new WideBlock(16, 64), new WideBlock(64, 64), new WideBlock(64, 64), Layers.Conv2d(64, 4, 3, padding: 1));
        using var opt = torch.optim.AdamW(net.parameters(), lr: 1e-3);
        using var x = torch.randn([8, 16, 64, 64]);
        using var y = torch.randn([8, 4, 64, 64]);
        const int warmup = 3, steps = 5;
        long before = 0;
        var clock = new Stopwatch();
        for (var i = 0; i < warmup + steps; i++)
        {
            if (i == warmup)
            {
                before = MinorFaults();
                clock.Start();
            }
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.call(x), y).backward();
            opt.step();
        }
        Console.WriteLine($"FAULTS_PER_STEP {(MinorFaults() - before) / steps} MS_PER_STEP {clock.ElapsedMilliseconds / steps}");
        return 0;
    }

    private sealed class WideBlock : nn.Module<Tensor, Tensor>
    {
        private readonly ChannelPaddedConv2d conv1, conv2;
        private readonly AutocastGroupNorm norm;

        public WideBlock(long cin, long cout) : base(nameof(WideBlock))
        {
            conv1 = Layers.Conv2d(cin, cout, 3, padding: 1);
            norm = Layers.GroupNorm(8, cout);
            conv2 = Layers.Conv2d(cout, cout, 3, padding: 1);
            register_module(nameof(conv1), conv1);
            register_module(nameof(norm), norm);
            register_module(nameof(conv2), conv2);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            return conv2.call(F.silu(norm.call(conv1.call(x)))).MoveToOuterDisposeScope();
        }
    }

    private static long MinorFaults() =>
        long.Parse(File.ReadAllText("/proc/self/stat").Split(' ')[9], CultureInfo.InvariantCulture);

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return Process.GetCurrentProcess().WorkingSet64;
    }
}
