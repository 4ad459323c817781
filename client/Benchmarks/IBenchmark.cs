namespace GidCluster.Client.Benchmarks;

/// <summary>
/// One benchmark of <c>gid bench NAME</c>. It measures our side and its reference side by side in
/// one run and ends by printing one line <c>BENCH {json}</c> (see <see cref="BenchReport"/>).
/// Implementations are discovered by reflection: adding a benchmark is adding a class.
/// </summary>
public interface IBenchmark
{
    /// <summary>The NAME in <c>gid bench NAME</c>.</summary>
    string Name { get; }

    /// <summary>One line for <c>gid bench --list</c>.</summary>
    string Description { get; }

    /// <summary>Runs the benchmark; returns the process exit code.</summary>
    Task<int> RunAsync(BenchContext context, CancellationToken cancel);
}

/// <summary>What a benchmark may use: the checkout, ../shared, a scratch folder, and extra arguments.</summary>
public sealed record BenchContext(string RepoRoot, string SharedRoot, string ScratchDir, IReadOnlyList<string> Arguments);
