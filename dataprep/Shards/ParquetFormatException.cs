namespace GidCluster.Dataprep.Shards;

/// <summary>
/// The one exception reading a shard throws for a file that is not a valid sample shard, whatever
/// Parquet.Net threw underneath (it throws many types). The message names the file and what is wrong.
/// </summary>
public sealed class ParquetFormatException : Exception
{
    public ParquetFormatException(string file, string problem, Exception? inner = null)
        : base($"{file}: {problem}", inner)
    {
        File = file;
        Problem = problem;
    }

    public string File { get; }

    public string Problem { get; }
}
