using System.Globalization;
using System.Text.Json;
using GidCluster.Contracts;
using GidCluster.Training.Distributed;

namespace GidCluster.Training.Trainer;

/// <summary>
/// One rank as a process (<c>gid train rank --spec FILE</c>): joins the group the environment describes
/// (<c>RANK</c>, <c>WORLD_SIZE</c>, <c>MASTER_ADDR</c>, <c>MASTER_PORT</c>; a world of 1 needs none), trains, and
/// reports on stdout one JSON line per step (<c>METRIC {…}</c>) and per checkpoint (<c>CHECKPOINT {…}</c>) for
/// whoever launched it. Exit code 0 when the run reached its last step.
/// </summary>
public static class RankProcess
{
    public const string MetricPrefix = "METRIC ";
    public const string CheckpointPrefix = "CHECKPOINT ";

    /// <summary>Before and after the run: <c>FIXED-LOSS step loss</c>, the loss on a fixed batch with fixed draws.</summary>
    public const string FixedLossPrefix = "FIXED-LOSS ";

    /// <summary>Exit code of a rank whose launcher went away (see <see cref="ExitWhenStdinCloses"/>).</summary>
    public const int OrphanExitCode = 3;

    /// <summary>
    /// Ends this process when stdin reaches its end. The supervising silo holds the other end of the pipe and never
    /// writes: when it dies (even by SIGKILL) the pipe closes, and a rank left behind would otherwise keep training and
    /// writing checkpoints beside the ranks its restarted run starts.
    /// </summary>
    public static void ExitWhenStdinCloses()
    {
        var watcher = new Thread(() =>
        {
            using var stdin = Console.OpenStandardInput();
            var buffer = new byte[256];
            while (stdin.Read(buffer) > 0)
            {
            }
            Console.Error.WriteLine("rank: the launching silo is gone (stdin closed); exiting");
            Environment.Exit(OrphanExitCode);
        })
        { IsBackground = true, Name = "stdin watcher" };
        watcher.Start();
    }

    public static int Run(string specPath, TimeSpan? collectiveTimeout = null, CancellationToken cancel = default)
    {
        var spec = TrainSpec.Read(specPath);
        var world = Environment.GetEnvironmentVariable("WORLD_SIZE") is { Length: > 0 } w
            ? int.Parse(w, NumberStyles.Integer, CultureInfo.InvariantCulture) : 1;
        using var group = world > 1 ? ProcessGroup.FromEnvironment(collectiveTimeout ?? TimeSpan.FromMinutes(2)) : null;
        using var trainer = new Trainer(spec, group);
        var output = Console.Out;
        output.WriteLine(FormattableString.Invariant($"{FixedLossPrefix}{trainer.Position} {trainer.FixedBatchLoss():R}"));
        trainer.Run(
            m => output.WriteLine(MetricPrefix + JsonSerializer.Serialize(m)),
            c => output.WriteLine(CheckpointPrefix + JsonSerializer.Serialize(c)),
            cancel);
        output.WriteLine(FormattableString.Invariant($"{FixedLossPrefix}{trainer.Position} {trainer.FixedBatchLoss():R}"));
        output.Flush();
        return 0;
    }
}
