using System.Globalization;
using System.Text;
using GidCluster.Dataprep.Manifest;
using GidCluster.Dataprep.Samples;

namespace GidCluster.Dataprep.Shards;

/// <summary>Human-readable summaries of a shard or a manifest (<c>gid inspect</c>).</summary>
public static class ShardInspector
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Describes a manifest (a <c>.json</c> file or a folder holding manifest.json) or a Parquet shard.</summary>
    public static string Describe(string path, int row = 0, bool verify = false)
    {
        if (Directory.Exists(path) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return DescribeManifest(path, verify);
        return DescribeShard(path, row);
    }

    public static string DescribeShard(string path, int row = 0)
    {
        var text = new StringBuilder();
        long numRows;
        using (var file = ParquetFile.Open(path))
        {
            var parquet = file.Reader;
            var meta = parquet.Metadata!;
            numRows = meta.NumRows;
            text.AppendLine(Inv, $"file        {path}");
            text.AppendLine(Inv, $"size        {new FileInfo(path).Length:N0} bytes");
            text.AppendLine(Inv, $"created by  {meta.CreatedBy ?? "(unknown)"}");
            foreach (var (key, value) in parquet.CustomMetadata)
                text.AppendLine(Inv, $"metadata    {key} = {value}");
            text.AppendLine(Inv, $"rows        {meta.NumRows:N0} in {meta.RowGroups.Count} row group(s)");
            text.AppendLine("schema");
            var firstGroup = meta.RowGroups.FirstOrDefault();
            var fields = parquet.Schema.DataFields;
            for (var c = 0; c < fields.Length; c++)
            {
                var chunk = firstGroup?.Columns[c].MetaData;
                var codec = chunk == null ? "" : $"  {chunk.Codec}, {string.Join('/', chunk.Encodings.Distinct())}";
                text.AppendLine(Inv, $"  {fields[c].Path.FirstPart,-16} {Describe(fields[c])}{codec}");
            }
            text.AppendLine("row groups");
            for (var g = 0; g < meta.RowGroups.Count; g++)
            {
                var group = meta.RowGroups[g];
                var compressed = group.Columns.Sum(c => c.MetaData!.TotalCompressedSize);
                text.AppendLine(Inv, $"  #{g,-4} {group.NumRows,6:N0} rows  {compressed,14:N0} bytes on disk  {group.TotalByteSize,14:N0} uncompressed");
            }
        }
        if (numRows == 0)
            return text.ToString();
        if (row < 0 || row >= numRows)
            throw new ArgumentOutOfRangeException(nameof(row), $"{path} has rows 0..{numRows - 1}");

        using var shard = ShardReader.Open(path);
        var (groupIndex, inGroup) = Locate(shard, row);
        var s = shard.ReadRowGroup(groupIndex)[inGroup];
        text.AppendLine(Inv, $"sample {row} (row group {groupIndex}, row {inGroup})");
        text.AppendLine(Inv, $"  video id       {s.VideoId}");
        text.AppendLine(Inv, $"  start frame    {s.StartFrame} at {s.Fps.ToString("0.###", Inv)} fps");
        text.AppendLine(Inv, $"  size           {s.Width}x{s.Height}");
        text.AppendLine(Inv, $"  source         {s.SourceUri}");
        text.AppendLine(Inv, $"  flow method    {s.FlowMethod}");
        text.AppendLine(Inv, $"  split          {s.Split}");
        text.AppendLine(Inv, $"  target frames  {s.TargetOffsets.Length} at t = [{string.Join(", ", s.TargetOffsets)}]");
        text.AppendLine(Inv, $"  quality        mean |F| {s.Quality.MeanDisplacement:0.###} px, max {s.Quality.MaxDisplacement:0.###} px, inconsistent {s.Quality.InconsistentFraction:P1}, flags [{string.Join(", ", s.Quality.Flags ?? [])}]");
        AppendVolumeStats(text, s);
        return text.ToString();
    }

    /// <summary>A readable column type, e.g. <c>optional BYTE_ARRAY (STRING)</c> or <c>list&lt;INT32&gt;</c>.</summary>
    private static string Describe(Parquet.Schema.DataField field)
    {
        var e = field.SchemaElement;
        var type = e?.Type.ToString() ?? "?";
        if (e?.LogicalType?.STRING != null || e?.ConvertedType == Parquet.Meta.ConvertedType.UTF8)
            type += " (STRING)";
        if (field.MaxRepetitionLevel > 0)
            return $"list<{type}>";
        return (field.IsNullable ? "optional " : "required ") + type;
    }

    private static (int Group, int Row) Locate(ShardReader shard, long row)
    {
        for (var g = 0; g < shard.RowGroupCount; g++)
        {
            var n = shard.RowGroupRows(g);
            if (row < n)
                return (g, (int)row);
            row -= n;
        }
        throw new ArgumentOutOfRangeException(nameof(row));
    }

    private static void AppendVolumeStats(StringBuilder text, Sample s)
    {
        var v = s.SpectralVolume;
        var perBin = v.Length / SpectralNormalization.Bins;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        var nonFinite = 0;
        var meanAbs = new double[SpectralNormalization.Bins];
        for (var i = 0; i < v.Length; i++)
        {
            var x = (float)v[i];
            if (!float.IsFinite(x))
            {
                nonFinite++;
                continue;
            }
            min = Math.Min(min, x);
            max = Math.Max(max, x);
            meanAbs[i / perBin] += Math.Abs(x);
        }
        text.AppendLine(Inv, $"  volume         fp16 [16,4,{s.Height},{s.Width}], min {min:G4}, max {max:G4}, non-finite {nonFinite}");
        text.AppendLine(Inv, $"  mean |S_k|     {string.Join(" ", meanAbs.Select(m => (m / perBin).ToString("G3", Inv)))}");
    }

    public static string DescribeManifest(string path, bool verify)
    {
        if (Directory.Exists(path))
            path = Path.Combine(path, ManifestFile.FileName);
        var m = ManifestFile.Read(path);
        var text = new StringBuilder();
        text.AppendLine(Inv, $"manifest        {path}");
        text.AppendLine(Inv, $"schema version  {m.SchemaVersion}");
        text.AppendLine(Inv, $"created         {m.CreatedUtc:u}");
        text.AppendLine(Inv, $"shards          {m.Shards.Count}, {m.TotalRows:N0} rows, {m.Shards.Sum(s => s.Bytes):N0} bytes");
        foreach (var s in m.Shards)
            text.AppendLine(Inv, $"  {s.Path,-24} {s.Rows,8:N0} rows {s.Bytes,14:N0} bytes  sha256 {s.Sha256[..16]}…");
        text.AppendLine(Inv, $"split           {m.Split.TrainVideos.Count} train / {m.Split.TestVideos.Count} test videos (test fraction {m.Split.TestFraction})");
        text.AppendLine(Inv, $"                {m.Split.Method}");
        if (m.Normalization == null)
        {
            text.AppendLine("normalization   (none)");
        }
        else
        {
            text.AppendLine(Inv, $"normalization   p{m.Normalization.Percentile} of |S| per bin");
            text.AppendLine(Inv, $"  s_k           {string.Join(" ", m.Normalization.Scales.Select(x => x.ToString("G4", Inv)))}");
            if (m.Normalization.Sketch != null)
                text.AppendLine(Inv, $"  sketch        {m.Normalization.Sketch.ToJsonString()}");
        }
        if (m.Config != null)
            text.AppendLine(Inv, $"config          {m.Config.ToJsonString()}");
        if (verify)
        {
            ManifestFile.Verify(path, m);
            text.AppendLine("verified        every shard's size and sha256 match");
        }
        return text.ToString();
    }
}
