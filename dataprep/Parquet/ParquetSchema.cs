namespace GidCluster.Dataprep.Parquet;

/// <summary>
/// A leaf (primitive) column of the schema tree with the levels Dremel-style shredding assigns it:
/// the maximum definition level counts optional and repeated ancestors (itself included), the maximum
/// repetition level counts repeated ones.
/// </summary>
public sealed record LeafColumn(
    int Index,
    IReadOnlyList<string> Path,
    PhysicalType Type,
    Repetition Repetition,
    int MaxDefinitionLevel,
    int MaxRepetitionLevel,
    int RepeatedDefinitionLevel,
    LogicalKind LogicalType,
    ConvertedType? ConvertedType,
    bool TopLevelIsList)
{
    public string DottedPath => string.Join('.', Path);

    public string TopLevelName => Path[0];

    public bool IsString => LogicalType == LogicalKind.String || ConvertedType == Parquet.ConvertedType.Utf8;

    /// <summary>A readable type, e.g. <c>optional BYTE_ARRAY (STRING)</c> or <c>list&lt;INT32&gt;</c>.</summary>
    public string Describe()
    {
        var type = Type switch
        {
            PhysicalType.ByteArray => IsString ? "BYTE_ARRAY (STRING)" : "BYTE_ARRAY",
            PhysicalType.Int32 => "INT32",
            PhysicalType.Int64 => "INT64",
            PhysicalType.Float => "FLOAT",
            PhysicalType.Double => "DOUBLE",
            PhysicalType.Boolean => "BOOLEAN",
            _ => Type.ToString().ToUpperInvariant(),
        };
        if (MaxRepetitionLevel > 0)
            return $"list<{type}>";
        return $"{Repetition.ToString().ToLowerInvariant()} {type}";
    }
}

/// <summary>Column description for the writer: a top-level primitive column, or a list of primitives.</summary>
/// <param name="Name">Column name.</param>
/// <param name="Type">Physical type (of the elements, for a list).</param>
/// <param name="Optional">Nullable (definition level 1); lists are always required with required elements.</param>
/// <param name="IsString">BYTE_ARRAY annotated as STRING (UTF-8).</param>
/// <param name="IsList">A LIST: <c>required group name (LIST) { repeated group list { required T element } }</c>.</param>
public sealed record ColumnSpec(string Name, PhysicalType Type, bool Optional = false, bool IsString = false, bool IsList = false);

/// <summary>Builds the flattened schema from writer specs, and resolves leaf columns from a file's schema.</summary>
public static class ParquetSchema
{
    private const int MaxDepth = 16;

    internal static List<SchemaElement> Build(IReadOnlyList<ColumnSpec> columns)
    {
        var elements = new List<SchemaElement> { new() { Name = "schema", NumChildren = columns.Count } };
        foreach (var c in columns)
        {
            var leaf = new SchemaElement
            {
                Type = c.Type,
                Name = c.IsList ? "element" : c.Name,
                RepetitionType = c.Optional && !c.IsList ? Repetition.Optional : Repetition.Required,
                ConvertedType = c.IsString ? ConvertedType.Utf8 : null,
                LogicalType = c.IsString ? LogicalKind.String : LogicalKind.None,
            };
            if (c.IsList)
            {
                elements.Add(new SchemaElement
                {
                    Name = c.Name,
                    RepetitionType = Repetition.Required,
                    NumChildren = 1,
                    ConvertedType = ConvertedType.List,
                    LogicalType = LogicalKind.List,
                });
                elements.Add(new SchemaElement { Name = "list", RepetitionType = Repetition.Repeated, NumChildren = 1 });
            }
            elements.Add(leaf);
        }
        return elements;
    }

    /// <summary>Walks the depth-first schema list; throws <see cref="CorruptDataException"/> on a malformed tree.</summary>
    internal static List<LeafColumn> Resolve(IReadOnlyList<SchemaElement> schema)
    {
        if (schema.Count == 0)
            throw new CorruptDataException("the schema is empty");
        var leaves = new List<LeafColumn>();
        var index = 1;
        var rootChildren = schema[0].NumChildren ?? 0;
        if (rootChildren < 0 || rootChildren > schema.Count - 1)
            throw new CorruptDataException($"the schema root claims {rootChildren} children but only {schema.Count - 1} elements follow");
        for (var i = 0; i < rootChildren; i++)
            Walk(schema, ref index, [], 0, 0, 0, false, leaves, 1);
        if (index != schema.Count)
            throw new CorruptDataException($"the schema has {schema.Count - index} elements outside the tree");
        return leaves;
    }

    private static void Walk(IReadOnlyList<SchemaElement> schema, ref int index, List<string> path, int def, int rep, int repeatedDef,
        bool underList, List<LeafColumn> leaves, int depth)
    {
        if (depth > MaxDepth)
            throw new CorruptDataException("the schema is nested too deeply");
        if (index >= schema.Count)
            throw new CorruptDataException("the schema tree refers to more elements than it has");
        var e = schema[index++];
        var repetition = e.RepetitionType ?? Repetition.Required;
        if (repetition is < Repetition.Required or > Repetition.Repeated)
            throw new CorruptDataException($"schema element {e.Name} has unknown repetition {(int)repetition}");
        if (repetition != Repetition.Required) def++;
        if (repetition == Repetition.Repeated)
        {
            rep++;
            repeatedDef = def;
        }
        var childPath = new List<string>(path) { e.Name };
        var isList = underList || (path.Count == 0 && (e.LogicalType == LogicalKind.List || e.ConvertedType == ConvertedType.List));
        var children = e.NumChildren ?? 0;
        if (children > 0 || e.Type == null)
        {
            if (children <= 0 || children > schema.Count - index)
                throw new CorruptDataException($"schema group {e.Name} claims {children} children, {schema.Count - index} elements follow");
            for (var i = 0; i < children; i++)
                Walk(schema, ref index, childPath, def, rep, repeatedDef, isList, leaves, depth + 1);
            return;
        }
        if (e.Type is < PhysicalType.Boolean or > PhysicalType.FixedLenByteArray)
            throw new CorruptDataException($"column {string.Join('.', childPath)} has unknown physical type {(int)e.Type}");
        leaves.Add(new LeafColumn(leaves.Count, childPath, e.Type.Value, repetition, def, rep, repeatedDef,
            e.LogicalType, e.ConvertedType, isList));
    }
}
