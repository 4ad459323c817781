namespace GidCluster.Torch.Tests;

/// <summary>Two real processes (this assembly run as <see cref="Worker"/>) rendezvous through a FileStore; Gloo pairs on 127.0.0.1.</summary>
public class DistributedTests
{
    private static readonly string Assembly = typeof(Worker).Assembly.Location;

    /// <summary>Starts one worker per rank with RANK/WORLD_SIZE set; each is killed if it outlives the limit.</summary>
    private static ProgramResult[] RunRanks(int world, params string[] args)
    {
        var tasks = Enumerable.Range(0, world).Select(rank => Task.Run(() => Programs.Run("dotnet", [Assembly, .. args], TimeSpan.FromSeconds(90),
            environment: new Dictionary<string, string?> { ["RANK"] = rank.ToString(), ["WORLD_SIZE"] = world.ToString(), ["MASTER_ADDR"] = null, ["MASTER_PORT"] = null })))
            .ToArray();
        Task.WaitAll(tasks);
        return tasks.Select(t => t.Result).ToArray();
    }

    [Fact]
    public void Gloo_collectives_are_correct_across_two_processes()
    {
        using var dir = Paths.NewTempDir("gid-torch-dist");
        var results = RunRanks(2, "collectives", Path.Combine(dir.Path, "store"));
        for (var r = 0; r < 2; r++)
        {
            Assert.True(results[r].ExitCode == 0, $"rank {r} failed:\n{results[r].Combined}");
            Assert.Contains($"rank {r}/2 ok", results[r].Stdout);
        }
    }

    [Fact]
    public void Data_parallel_on_two_ranks_equals_one_rank_with_the_double_batch()
    {
        using var dir = Paths.NewTempDir("gid-torch-ddp");
        var output = Path.Combine(dir.Path, "ddp.pt");
        const int perRank = 3;
        var results = RunRanks(2, "ddp", Path.Combine(dir.Path, "store"), output, perRank.ToString());
        for (var r = 0; r < 2; r++)
            Assert.True(results[r].ExitCode == 0, $"rank {r} failed:\n{results[r].Combined}");

        // The single-rank reference: rank 0's initial weights (seed 100), the whole batch of 2b.
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(100);
        using var net = new SmallNet();
        using var data = Worker.DdpData(2 * perRank);
        var (x, y) = data.Value;
        using var opt = new optim.AdamW(net.parameters(), lr: 0.01);
        for (var step = 0; step < 5; step++)
        {
            using var s = torch.NewDisposeScope();
            opt.zero_grad();
            F.mse_loss(net.forward(x), y).backward();
            opt.step();
        }
        var ddp = torch.load_state_dict(output);
        foreach (var (name, t) in net.state_dict())
            PyTensors.AssertClose(ddp[name], t, 1e-5, name);
    }

    [Fact]
    public void Bad_rendezvous_arguments_are_rejected_before_any_socket()
    {
        Assert.Contains("rank 2", Assert.Throws<ArgumentException>(() => torch.distributed.init_process_group("gloo", "file:///tmp/x", rank: 2, world_size: 2)).Message);
        Assert.Contains("init_method", Assert.Throws<ArgumentException>(() => torch.distributed.init_process_group("gloo", "udp://x", rank: 0, world_size: 1)).Message);
        using var dir = Paths.NewTempDir("gid-torch-dist-bad");
        var e = Assert.Throws<GidCluster.Native.NativeException>(() =>
            torch.distributed.init_process_group("nccl", "file://" + Path.Combine(dir.Path, "s"), rank: 0, world_size: 1));
        Assert.Contains(torch.cuda_compiled ? "nccl" : "CUDA", e.Message);
    }
}

/// <summary>10,000 training iterations in dispose scopes, after 2,000 of warm-up (JIT tiering, allocator pools), must not grow the process (own process, so other tests do not disturb RSS).</summary>
public class MemoryTests
{
    [Fact]
    public void Ten_thousand_scoped_training_steps_grow_RSS_by_less_than_50_MB_after_warmup()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "memory", "12000", "2000"], TimeSpan.FromMinutes(4));
        Assert.True(result.ExitCode == 0, result.Combined);
        var parts = result.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var warm = long.Parse(parts[Array.IndexOf(parts, "RSS_WARM") + 1]);
        var end = long.Parse(parts[Array.IndexOf(parts, "RSS_END") + 1]);
        var growth = (end - warm) / (1024.0 * 1024.0);
        Assert.True(growth < 50, $"RSS grew by {growth:F1} MB (from {warm / 1048576.0:F1} MB after warm-up to {end / 1048576.0:F1} MB)");
    }

    /// <summary>
    /// Freed tensor memory is reused, not returned to the kernel and faulted in afresh each step
    /// (glibc's defaults did that: ~125,000 minor faults per step of this net, ~500 MB of zeroed pages).
    /// </summary>
    [Fact]
    public void Steady_training_steps_reuse_freed_memory_instead_of_faulting_in_new_pages()
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "faults"], TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.Combined);
        var parts = result.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var faults = long.Parse(parts[Array.IndexOf(parts, "FAULTS_PER_STEP") + 1]);
        Assert.True(faults < 2000, $"{faults} minor page faults per training step after warm-up (expected < 2000)");
    }
}
