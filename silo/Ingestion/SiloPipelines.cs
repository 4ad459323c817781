using GidCluster.Grains.Ingestion;

namespace GidCluster.Silo.Ingestion;

/// <summary>The pipelines a silo of this build runs besides the built-in frame-stats: dataprep and animate.</summary>
public static class SiloPipelines
{
    public static void Register()
    {
        DataprepPipeline.Register();
        AnimatePipeline.Register();
    }
}
