namespace GidCluster.Dataprep.Parquet;

/// <summary>
/// The values of one leaf column across a row group (or a page): the non-null values in order,
/// plus definition levels (present when the column can be null or sits under a list) and
/// repetition levels (present under a list). <see cref="Values"/> is an <c>int[]</c>,
/// <c>long[]</c>, <c>float[]</c>, <c>double[]</c>, <c>bool[]</c> or <c>byte[][]</c> by physical type.
/// </summary>
public sealed class ColumnData
{
    public ColumnData(PhysicalType type, Array values, byte[]? definitionLevels = null, byte[]? repetitionLevels = null)
    {
        Type = type;
        Values = values;
        DefinitionLevels = definitionLevels;
        RepetitionLevels = repetitionLevels;
    }

    public PhysicalType Type { get; }

    public Array Values { get; }

    public byte[]? DefinitionLevels { get; }

    public byte[]? RepetitionLevels { get; }

    /// <summary>Entries in the level streams (values plus nulls and empty lists); equals the value count without levels.</summary>
    public int LevelCount => DefinitionLevels?.Length ?? RepetitionLevels?.Length ?? Values.Length;

    /// <summary>Rows covered: repetition level 0 starts a row.</summary>
    public int RowCount => RepetitionLevels == null ? LevelCount : RepetitionLevels.Count(r => r == 0);

    public int[] Int32s => (int[])Values;
    public long[] Int64s => (long[])Values;
    public float[] Floats => (float[])Values;
    public double[] Doubles => (double[])Values;
    public bool[] Booleans => (bool[])Values;
    public byte[][] Binaries => (byte[][])Values;

    public static ColumnData Required(int[] values) => new(PhysicalType.Int32, values);
    public static ColumnData Required(long[] values) => new(PhysicalType.Int64, values);
    public static ColumnData Required(float[] values) => new(PhysicalType.Float, values);
    public static ColumnData Required(double[] values) => new(PhysicalType.Double, values);
    public static ColumnData Required(bool[] values) => new(PhysicalType.Boolean, values);
    public static ColumnData Required(byte[][] values) => new(PhysicalType.ByteArray, values);
    public static ColumnData Required(string[] values) =>
        new(PhysicalType.ByteArray, values.Select(System.Text.Encoding.UTF8.GetBytes).ToArray());

    /// <summary>An optional (nullable) column: definition level 1 where a value is present, 0 for null.</summary>
    public static ColumnData Optional<T>(PhysicalType type, IReadOnlyList<T?> values) where T : class
    {
        var present = values.Where(v => v != null).Select(v => v!).ToArray();
        var defs = values.Select(v => v == null ? (byte)0 : (byte)1).ToArray();
        return new ColumnData(type, present, defs);
    }

    /// <summary>An optional value-type column (int?, double?...).</summary>
    public static ColumnData OptionalValues<T>(PhysicalType type, IReadOnlyList<T?> values) where T : struct
    {
        var present = values.Where(v => v.HasValue).Select(v => v!.Value).ToArray();
        var defs = values.Select(v => v.HasValue ? (byte)1 : (byte)0).ToArray();
        return new ColumnData(type, present, defs);
    }

    /// <summary>
    /// A required list of required INT32 (<c>required group (LIST) { repeated group list { required int32 element } }</c>):
    /// repetition level 0 starts a row, 1 continues its list; definition level 1 is an element, 0 an empty list.
    /// </summary>
    public static ColumnData Int32Lists(IReadOnlyList<int[]> lists)
    {
        var values = new List<int>();
        var defs = new List<byte>();
        var reps = new List<byte>();
        foreach (var list in lists)
        {
            if (list.Length == 0)
            {
                defs.Add(0);
                reps.Add(0);
                continue;
            }
            for (var i = 0; i < list.Length; i++)
            {
                values.Add(list[i]);
                defs.Add(1);
                reps.Add(i == 0 ? (byte)0 : (byte)1);
            }
        }
        return new ColumnData(PhysicalType.Int32, values.ToArray(), defs.ToArray(), reps.ToArray());
    }

    /// <summary>The value of each row for a non-repeated column, null where the definition level says absent.</summary>
    public object?[] RowValues(LeafColumn column)
    {
        if (column.MaxRepetitionLevel != 0)
            throw new InvalidOperationException($"column {column.DottedPath} is repeated; use {nameof(Int32ListRows)}");
        var result = new object?[LevelCount];
        var v = 0;
        for (var i = 0; i < result.Length; i++)
        {
            if (DefinitionLevels == null || DefinitionLevels[i] == column.MaxDefinitionLevel)
                result[i] = Values.GetValue(v++);
        }
        return result;
    }

    /// <summary>
    /// Assembles one INT32 list per row (one level of nesting). A null list comes back as null;
    /// a null element inside a list is an error since our lists never hold them.
    /// </summary>
    public int[]?[] Int32ListRows(LeafColumn column, string file)
    {
        if (column.MaxRepetitionLevel != 1 || RepetitionLevels == null || DefinitionLevels == null)
            throw new ParquetFormatException(file, $"column {column.DottedPath} is not a single-level list");
        var rows = new List<int[]?>();
        var current = new List<int>();
        var currentIsNull = false;
        var started = false;
        var values = Int32s;
        var v = 0;
        for (var i = 0; i < LevelCount; i++)
        {
            if (RepetitionLevels[i] == 0)
            {
                if (started)
                    rows.Add(currentIsNull ? null : current.ToArray());
                current.Clear();
                started = true;
                currentIsNull = false;
            }
            var def = DefinitionLevels[i];
            if (def == column.MaxDefinitionLevel)
                current.Add(values[v++]);
            else if (def >= column.RepeatedDefinitionLevel)
                throw new ParquetFormatException(file, $"column {column.DottedPath} holds a null list element");
            else if (def < column.RepeatedDefinitionLevel - 1)
                currentIsNull = true; // the list itself is null (an optional list); one level below means empty
        }
        if (started)
            rows.Add(currentIsNull ? null : current.ToArray());
        return rows.ToArray();
    }
}
