namespace GidCluster.Dataprep.Parquet;

/// <summary>
/// The one exception the Parquet reader throws for a file that is not valid Parquet (or uses a
/// feature this reader does not support). The message names the file and what is wrong.
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

/// <summary>A malformed byte sequence found while decoding; the file walk adds the file name and location.</summary>
internal class CorruptDataException(string problem) : Exception(problem);

/// <summary>The bytes ended before the structure did (the caller may retry with a larger window).</summary>
internal sealed class TruncatedDataException(string problem) : CorruptDataException(problem);
