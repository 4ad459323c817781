using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using GidCluster.Dataprep.Parquet;
using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Shards;

/// <summary>
/// Reads samples back from a shard, one row group at a time. Accepts any Parquet file with the sample
/// columns (in any order, required or optional, e.g. one DuckDB wrote); a null in a sample field, a missing
/// column or a wrong type is a <see cref="ParquetFormatException"/> naming the file, column and row.
/// </summary>
public sealed class ShardReader : IDisposable
{
    private readonly ParquetReader _parquet;
    private readonly Dictionary<string, LeafColumn> _columns = [];

    private ShardReader(ParquetReader parquet)
    {
        _parquet = parquet;
        Require(SampleColumns.VideoId, PhysicalType.ByteArray);
        Require(SampleColumns.StartFrame, PhysicalType.Int32);
        Require(SampleColumns.Fps, PhysicalType.Float);
        Require(SampleColumns.Width, PhysicalType.Int32);
        Require(SampleColumns.Height, PhysicalType.Int32);
        Require(SampleColumns.Image, PhysicalType.ByteArray);
        Require(SampleColumns.SpectralVolume, PhysicalType.ByteArray);
        Require(SampleColumns.TargetFrames, PhysicalType.ByteArray);
        Require(SampleColumns.TargetOffsets, PhysicalType.Int32, list: true);
        Require(SampleColumns.SourceUri, PhysicalType.ByteArray);
        Require(SampleColumns.FlowMethod, PhysicalType.ByteArray);
        Require(SampleColumns.Quality, PhysicalType.ByteArray);
        Require(SampleColumns.Split, PhysicalType.ByteArray);
    }

    public static ShardReader Open(string path, ParquetReaderOptions? options = null)
    {
        var parquet = ParquetReader.Open(path, options);
        try
        {
            return new ShardReader(parquet);
        }
        catch
        {
            parquet.Dispose();
            throw;
        }
    }

    public ParquetReader Parquet => _parquet;

    public string Path => _parquet.Path;

    public long RowCount => _parquet.NumRows;

    public int RowGroupCount => _parquet.RowGroupCount;

    public long RowGroupRows(int rowGroup) => _parquet.Metadata.RowGroups[rowGroup].NumRows;

    private void Require(string name, PhysicalType type, bool list = false)
    {
        var leaf = _parquet.Columns.FirstOrDefault(c => c.TopLevelName == name)
            ?? throw new ParquetFormatException(Path, $"is not a sample shard: column '{name}' is missing");
        if (leaf.Type != type)
            throw new ParquetFormatException(Path, $"column '{name}' is {leaf.Type}, expected {type}");
        if (list ? leaf.MaxRepetitionLevel != 1 : leaf.MaxRepetitionLevel != 0)
            throw new ParquetFormatException(Path, $"column '{name}' {(list ? "must be a list" : "must not be repeated")}");
        _columns[name] = leaf;
    }

    /// <summary>All samples, row group by row group (only one row group's data in memory at a time).</summary>
    public IEnumerable<Sample> ReadAll()
    {
        for (var g = 0; g < RowGroupCount; g++)
        {
            foreach (var s in ReadRowGroup(g))
                yield return s;
        }
    }

    /// <summary>Just the split of each row in a row group (cheap: one small column).</summary>
    public string[] ReadSplits(int rowGroup) => Strings(rowGroup, SampleColumns.Split);

    public IReadOnlyList<Sample> ReadRowGroup(int rowGroup)
    {
        var videoIds = Strings(rowGroup, SampleColumns.VideoId);
        var startFrames = Values<int>(rowGroup, SampleColumns.StartFrame);
        var fps = Values<float>(rowGroup, SampleColumns.Fps);
        var widths = Values<int>(rowGroup, SampleColumns.Width);
        var heights = Values<int>(rowGroup, SampleColumns.Height);
        var images = Values<byte[]>(rowGroup, SampleColumns.Image);
        var volumes = Values<byte[]>(rowGroup, SampleColumns.SpectralVolume);
        var targets = Values<byte[]>(rowGroup, SampleColumns.TargetFrames);
        var offsetsLeaf = _columns[SampleColumns.TargetOffsets];
        var offsets = _parquet.ReadColumn(rowGroup, offsetsLeaf.Index).Int32ListRows(offsetsLeaf, Path);
        var sources = Strings(rowGroup, SampleColumns.SourceUri);
        var methods = Strings(rowGroup, SampleColumns.FlowMethod);
        var qualities = Strings(rowGroup, SampleColumns.Quality);
        var splits = Strings(rowGroup, SampleColumns.Split);
        var rows = videoIds.Length;
        if (offsets.Length != rows)
            throw new ParquetFormatException(Path, $"row group {rowGroup}: target_offsets has {offsets.Length} rows, video_id has {rows}");
        var samples = new List<Sample>(rows);
        for (var i = 0; i < rows; i++)
        {
            var where = $"row group {rowGroup}, row {i}";
            if (volumes[i].Length % 2 != 0)
                throw new ParquetFormatException(Path, $"{where}: spectral_volume has an odd byte count {volumes[i].Length} (fp16 expected)");
            SampleQuality quality;
            try
            {
                quality = ShardSchema.QualityFromJson(qualities[i]);
            }
            catch (JsonException e)
            {
                throw new ParquetFormatException(Path, $"{where}: quality is not valid JSON ({e.Message})", e);
            }
            var sample = new Sample(videoIds[i], startFrames[i], fps[i], widths[i], heights[i], images[i],
                MemoryMarshal.Cast<byte, Half>(volumes[i]).ToArray(), targets[i],
                offsets[i] ?? throw new ParquetFormatException(Path, $"{where}: target_offsets is null"),
                sources[i], methods[i], quality, splits[i]);
            try
            {
                ShardSchema.Validate(sample);
            }
            catch (ArgumentException e)
            {
                throw new ParquetFormatException(Path, $"{where}: {e.Message}", e);
            }
            samples.Add(sample);
        }
        return samples;
    }

    private T[] Values<T>(int rowGroup, string name)
    {
        var leaf = _columns[name];
        var rows = _parquet.ReadColumn(rowGroup, leaf.Index).RowValues(leaf);
        var result = new T[rows.Length];
        for (var i = 0; i < rows.Length; i++)
            result[i] = rows[i] is T v ? v : throw new ParquetFormatException(Path, $"row group {rowGroup}, row {i}: column '{name}' is null");
        return result;
    }

    private string[] Strings(int rowGroup, string name)
    {
        var bytes = Values<byte[]>(rowGroup, name);
        var result = new string[bytes.Length];
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        for (var i = 0; i < bytes.Length; i++)
        {
            try
            {
                result[i] = strict.GetString(bytes[i]);
            }
            catch (DecoderFallbackException)
            {
                throw new ParquetFormatException(Path, $"row group {rowGroup}, row {i}: column '{name}' is not valid UTF-8");
            }
        }
        return result;
    }

    public void Dispose() => _parquet.Dispose();
}
