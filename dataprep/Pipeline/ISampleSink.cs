using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Pipeline;

/// <summary>
/// Receives samples as the pipeline produces them (one clip at a time, so a long video is never
/// held in memory). The shard writer implements this; so does anything else that consumes samples.
/// </summary>
public interface ISampleSink
{
    void Write(Sample sample);
}

/// <summary>Fans one stream of samples out to several sinks.</summary>
public sealed class SampleSinks(params ISampleSink[] sinks) : ISampleSink
{
    public void Write(Sample sample)
    {
        foreach (var s in sinks)
            s.Write(sample);
    }
}
