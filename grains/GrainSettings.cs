using GidCluster.Grains.Ingestion;

namespace GidCluster.Grains;

/// <summary>What the grains of a silo are configured with (registered as a singleton by the silo host).</summary>
/// <param name="DefaultPipeline">The pipeline of jobs that name none.</param>
/// <param name="MaxInFlight">Videos a job has started and not seen finish, at most.</param>
/// <param name="CheckInterval">How often a job asks its videos in flight how they are (re-drives a video whose silo died, catches a lost callback).</param>
/// <param name="ReminderPeriod">Period of the durable reminders that re-drive unfinished work after a crash (Orleans' minimum is one minute unless lowered).</param>
public sealed record GrainSettings(string DefaultPipeline, int MaxInFlight, TimeSpan CheckInterval, TimeSpan ReminderPeriod)
{
    public static GrainSettings Default { get; } = new(FrameStatsProcessor.PipelineName, 64, TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(1));
}

/// <summary>Names the silo's configuration refers to.</summary>
public static class GrainNames
{
    /// <summary>The grain storage every grain of ours uses.</summary>
    public const string Storage = "gid";

    public const string VideoType = "gid-video";
    public const string DatasetType = "gid-dataset";
    public const string JobType = "gid-ingestion-job";
    public const string CatalogType = "gid-catalog";
    public const string TrainingRunType = "gid-training-run";

    /// <summary>The reminder that re-drives a grain's unfinished work after its silo died.</summary>
    public const string Redrive = "redrive";
}
