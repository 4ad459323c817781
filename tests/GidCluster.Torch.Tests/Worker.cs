using System.Diagnostics;
using System.Globalization;

namespace GidCluster.Torch.Tests;

/// <summary>
/// Entry point when this assembly runs as a child process (<c>dotnet GidCluster.Torch.Tests.dll MODE ...</c>):
/// one rank of a distributed test, or the memory soak. Rank and world come from RANK / WORLD_SIZE.
/// </summary>
public static class Worker
{
    public static int Main(string[] args)
    {
        try
        {
            return args[0] switch
            {
                "collectives" => Collectives(args[1]),
                "ddp" => DataParallel(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture)),
                "memory" => Memory(int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture)),
                "faults" => Faults(),
                _ => throw new ArgumentException($"unknown worker mode {args[0]}"),
            };
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    private static void Expect(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException("check failed: " + what);
    }

    private static int Collectives(string storeFile)
    {
        using var pg = torch.distributed.init_process_group("gloo", "file://" + storeFile, timeout: TimeSpan.FromSeconds(30));
        using var scope = torch.NewDisposeScope();
        int rank = pg.rank, world = pg.size;
        var t = torch.tensor(new[] { rank + 1f, 10f * (rank + 1) });
        pg.all_reduce(t);
        Expect(t.ToArray<float>().SequenceEqual([3f, 30f]), $"all_reduce sum gave {string.Join(",", t.ToArray<float>())}");
        var a = torch.tensor(new[] { rank + 1f, 4f });
        pg.all_reduce(a, torch.distributed.ReduceOp.AVG);
        Expect(a.ToArray<float>().SequenceEqual([1.5f, 4f]), "all_reduce avg");
        var m = torch.tensor(new[] { (float)rank });
        pg.all_reduce(m, torch.distributed.ReduceOp.MAX);
        Expect(m.item() == world - 1, "all_reduce max");
        var b = rank == 1 ? torch.tensor(new[] { 7L, 8L, 9L }) : torch.zeros([3], torch.int64);
        pg.broadcast(b, src: 1);
        Expect(b.ToArray<long>().SequenceEqual([7L, 8L, 9L]), "broadcast from rank 1");
        var outs = Enumerable.Range(0, world).Select(_ => torch.zeros([2])).ToArray();
        pg.all_gather(outs, torch.full([2], rank * 2.0));
        for (var i = 0; i < world; i++) Expect(outs[i].ToArray<float>().All(v => v == i * 2), $"all_gather slot {i}");
        pg.barrier();
        Console.WriteLine($"rank {rank}/{world} ok");
        return 0;
    }

    /// <summary>Builds SmallNet with a rank-dependent seed (DDP must replace it by rank 0's), trains 5 steps on this rank's half of the batch.</summary>
    private static int DataParallel(string storeFile, string output, int perRank)
    {
        using var pg = torch.distributed.init_process_group("gloo", "file://" + storeFile, timeout: TimeSpan.FromSeconds(30));
        torch.manual_seed((ulong)(100 + pg.rank));
        using var net = new SmallNet();
        var ddp = new nn.parallel.DistributedDataParallel<SmallNet>(net, pg, bucket_cap_mb: 0.001); // tiny buckets: several all-reduces
        using var data = DdpData(perRank * pg.size);
        var (x, y) = data.Value;
        using var xs = x.narrow(0, pg.rank * perRank, perRank);
        using var ys = y.narrow(0, pg.rank * perRank, perRank);
        using var opt = new optim.AdamW(net.parameters(), lr: 0.01);
        for (var step = 0; step < 5; step++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(ddp.module.forward(xs), ys).backward();
            ddp.average_gradients();
            opt.step();
        }
        if (pg.rank == 0)
            torch.save(net.state_dict().ToDictionary(kv => kv.Key, kv => (object?)kv.Value), output);
        pg.barrier();
        return 0;
    }

    internal sealed class Data(Tensor x, Tensor y) : IDisposable
    {
        public (Tensor x, Tensor y) Value => (x, y);

        public void Dispose()
        {
            x.Dispose();
            y.Dispose();
        }
    }

    internal static Data DdpData(int batch)
    {
        using var g = new torch.Generator(7);
        return new Data(torch.randn([batch, 3, 8, 8], g), torch.randn([batch, 2], g));
    }

    /// <summary>Trains SmallNet for <paramref name="iterations"/> steps in dispose scopes; prints RSS after warm-up and at the end.</summary>
    private static int Memory(int iterations, int warmup)
    {
        torch.manual_seed(1);
        using var net = new SmallNet();
        using var opt = new optim.AdamW(net.parameters(), lr: 1e-3);
        using var data = DdpData(4);
        var (x, y) = data.Value;
        long afterWarmup = 0;
        for (var i = 0; i < iterations; i++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                opt.zero_grad();
                F.mse_loss(net.forward(x), y).backward();
                opt.step();
            }
            if (i + 1 == warmup)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                afterWarmup = Rss();
            }
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Console.WriteLine($"RSS_WARM {afterWarmup} RSS_END {Rss()}");
        return 0;
    }

    /// <summary>
    /// Training steps of a conv net with 8 MB activations, freed in batches as scopes end (as model
    /// code over this binding does); prints the minor page faults per step after warm-up.
    /// </summary>
    private static int Faults()
    {
        torch.set_num_threads(1);
        torch.manual_seed(1);
        using var net = new nn.Sequential(new WideBlock(16, 64), new WideBlock(64, 64), new WideBlock(64, 64), new nn.Conv2d(64, 4, 3, padding: 1));
        using var opt = new optim.AdamW(net.parameters(), lr: 1e-3);
        using var x = torch.randn([8, 16, 64, 64]);
        using var y = torch.randn([8, 4, 64, 64]);
        const int warmup = 3, steps = 5;
        long before = 0;
        for (var i = 0; i < warmup + steps; i++)
        {
            if (i == warmup) before = MinorFaults();
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.forward(x), y).backward();
            opt.step();
        }
        Console.WriteLine($"FAULTS_PER_STEP {(MinorFaults() - before) / steps}");
        return 0;
    }

    private sealed class WideBlock : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Conv2d conv1, conv2;
        private readonly nn.GroupNorm norm;

        public WideBlock(long cin, long cout) : base(nameof(WideBlock))
        {
            conv1 = new nn.Conv2d(cin, cout, 3, padding: 1);
            norm = new nn.GroupNorm(8, cout);
            conv2 = new nn.Conv2d(cout, cout, 3, padding: 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            return conv2.forward(F.silu(norm.forward(conv1.forward(x)))).MoveToOuterDisposeScope();
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
